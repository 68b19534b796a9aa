"""A finished run evaluated as DCASE does (``python -m kasc.evaluate``, and the end of every
training run): accuracy, class-macro accuracy, log loss, per device and per class, for the
Keras model and the int8 TFLite model; ``metrics.json``, ``confusion.png`` and the DCASE
output file ``predictions_valid.csv`` written into the run folder."""

from __future__ import annotations

from kasc.data.features import LogMel
from kasc.data.pipeline import prepare_splits
from kasc.data.table import clips_heard
from kasc.evaluation.confusion_plot import save_confusion_png
from kasc.evaluation.inference import keras_probabilities, tflite_probabilities
from kasc.evaluation.metrics import HELD_OUT_FIELDS, held_out_fields, split_report
from kasc.evaluation.output_csv import top1_agreement, write_predictions
from kasc.files.atomic import write_json
from kasc.files.runs import RunDir
from kasc.models import load_model


def _fmt(value, pattern="{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def format_reports(reports: dict[str, dict]) -> str:
    """A text table with one column per evaluated model (e.g. keras, int8)."""
    names = list(reports)
    first = reports[names[0]]
    rows = [("clips", [str(r["clips"]) for r in reports.values()]),
            ("accuracy", [_fmt(r["accuracy"]) for r in reports.values()]),
            ("class-macro accuracy", [_fmt(r["macro_class_accuracy"]) for r in reports.values()]),
            ("log loss", [_fmt(r["log_loss"]) for r in reports.values()])]
    for group in first.get("device_groups", {}):
        rows.append((f"{group} devices: accuracy", [_fmt(r["device_groups"][group]["accuracy"]) for r in reports.values()]))
    for device in first.get("per_device", {}):
        rows.append((f"device {device} ({first['per_device'][device]['clips']} clips)",
                     [_fmt(r["per_device"][device]["accuracy"]) for r in reports.values()]))
    for name in first["class_names"]:
        rows.append((f"class {name}", [_fmt(r["per_class_accuracy"][name]) for r in reports.values()]))
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{'':<{width}}" + "".join(f"{n:>12}" for n in names)]
    lines += [f"{label:<{width}}" + "".join(f"{v:>12}" for v in values) for label, values in rows]
    return "\n".join(lines)


def evaluate_run(run: RunDir, cfg, valid_data=None, int8: bool = True, batch_size: int = 64,
                 progress: bool = True, trained_on: int | None = None) -> dict:
    """Evaluate the run's ``model.keras`` (and ``model_int8.tflite``) on the validation
    split, with progress bars on stderr (``progress``); write metrics.json (merged with
    what is there), confusion.png and the DCASE output CSV; return the Keras report with
    the int8 one under ``"int8"``. ``trained_on``: how many validation clips the model
    trained on (counted here when the splits are read here), written as ``held_out``."""
    if valid_data is None:
        splits = prepare_splits(cfg.data, splits=("train", "valid"), progress=False, label=cfg.name)
        valid_data = splits["valid"]
        trained_on = clips_heard(valid_data.table, splits["train"].table)
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    model = load_model(run.model_file)
    probabilities = keras_probabilities(model, valid_data, logmel, batch_size, progress="Keras model" * progress)
    reports = {"keras": split_report(valid_data.table, valid_data.labels, probabilities, valid_data.class_names)}
    if int8 and run.int8_file.is_file():
        int8_probabilities = tflite_probabilities(run.int8_file, valid_data, logmel, batch_size,
                                                  progress="int8 TFLite" * progress)
        reports["int8"] = split_report(valid_data.table, valid_data.labels, int8_probabilities, valid_data.class_names)
    write_predictions(run.predictions_file, valid_data.table["filename"], probabilities, valid_data.class_names)
    keras_report = reports["keras"]
    save_confusion_png(run.confusion_file, keras_report["confusion_matrix"], keras_report["class_names"],
                       f"{cfg.name}: accuracy {keras_report['accuracy']:.3f} on {keras_report['clips']} clips")
    metrics = {**run.metrics(), **keras_report}
    if trained_on is not None:  # held out or not, and why (the fields of an earlier evaluation go)
        metrics = {k: v for k, v in metrics.items() if k not in HELD_OUT_FIELDS}
        metrics.update(held_out_fields(len(valid_data), trained_on))
    if run.teacher_predictions_file.is_file():  # a distilled run: how often it names its teachers' class
        try:
            metrics["teacher_agreement"] = top1_agreement(run.predictions_file, run.teacher_predictions_file)
        except ValueError:  # teachers validated on other files (10 s recordings for 1 s students): no agreement
            metrics.pop("teacher_agreement", None)
    if "int8" in reports:
        metrics["int8"] = {k: v for k, v in reports["int8"].items() if k not in ("class_names",)}
        metrics["int8_accuracy_drop"] = keras_report["accuracy"] - reports["int8"]["accuracy"]
    write_json(run.metrics_file, metrics)
    print(format_reports(reports))
    return metrics


def column_labels(names: list[str], width: int = 11) -> list[str]:
    """``names`` fitted to ``width`` characters for a table's columns: a longer name keeps
    its head and its tail (``mn04_…seed1``), where run names differ (seeds, held-out parts)."""
    head = (width - 1) // 2
    return [n if len(n) <= width else f"{n[:head]}…{n[-(width - head - 1):]}" for n in names]
