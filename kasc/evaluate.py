"""Evaluate a run as DCASE does: ``python -m kasc.evaluate RUN_DIR [--no-int8]``.

For the run's validation split: accuracy, class-macro accuracy (DCASE's ranking metric),
multi-class log loss (scikit-learn), accuracy and log loss per device (TAU22: seen and
unseen devices apart), per-class accuracy and the confusion matrix, for the Keras model
and, where the run exported one, the int8 TFLite model (the int8 drop is printed).
Writes ``metrics.json`` (the Keras figures at the top level, int8 under ``"int8"``),
``confusion.png`` and the DCASE output file ``predictions_valid.csv``. Every training run
ends with this evaluation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kasc.files.atomic import write_json
from kasc.evaluation.confusion_plot import save_confusion_png
from kasc.evaluation.inference import keras_probabilities, tflite_probabilities
from kasc.evaluation.metrics import HELD_OUT_FIELDS, held_out_fields, split_report
from kasc.files.runs import RunDir


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
    from kasc.data.features import LogMel
    from kasc.models import load_model
    from kasc.evaluation.output_csv import write_predictions

    if valid_data is None:
        from kasc.data.pipeline import prepare_splits
        from kasc.data.table import clips_heard

        splits = prepare_splits(cfg, splits=("train", "valid"), progress=False)
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


def top1_agreement(predictions_file, reference_file) -> float:
    """Fraction of the files of ``reference_file`` whose predicted class (``scene_label``)
    in ``predictions_file`` is the same (two DCASE output CSVs of one split).

    Raises:
      ValueError: a file of the reference has no prediction.
    """
    import pandas as pd

    ours = pd.read_csv(predictions_file, sep="\t").set_index("filename")["scene_label"]
    theirs = pd.read_csv(reference_file, sep="\t").set_index("filename")["scene_label"]
    missing = theirs.index.difference(ours.index)
    if len(missing):
        raise ValueError(f"{predictions_file} has no prediction for {len(missing)} file(s) of {reference_file} "
                         f"(e.g. {missing[0]}): not the same split")
    return float((ours.loc[theirs.index].to_numpy() == theirs.to_numpy()).mean())


def ensemble_report(runs: list[RunDir], weights=(), batch_size: int = 32, predictions_file=None) -> dict:
    """The report's Table 2: each teacher run and their ensemble (weighted average of
    probabilities) on the teachers' validation split; printed, and returned as
    ``{name: split_report}``; the ensemble's probabilities are written to
    ``predictions_file`` (DCASE output CSV) if given. All teachers must share the data config, except the sample
    rate (each teacher sees the clips at its own rate, through its own front end) and
    the part of the training split a cross-fitted teacher held out (``kasc.training.cross_fit``)."""
    import dataclasses

    from kasc.config import load_config
    from kasc.data.pipeline import at_sample_rate, prepare_splits
    from kasc.data.features import LogMel
    from kasc.models import load_model
    from kasc.models.ensemble import tempered_average

    configs = [load_config(run.config_file) for run in runs]
    clips = [dataclasses.replace(cfg.data, sample_rate=0, cache_logmel=False, held_out_part=0) for cfg in configs]
    if any(c != clips[0] for c in clips):
        raise ValueError("the teachers were trained on different data configs; their ensemble cannot be evaluated "
                         f"on one split ({', '.join(str(r.path) for r in runs)})")
    data = prepare_splits(configs[0], progress=False)["valid"]
    reports, probabilities = {}, []
    for run, cfg in zip(runs, configs):
        model = load_model(run.model_file)
        own = at_sample_rate(configs[0], data, cfg.data.sample_rate, progress=False)
        probs = keras_probabilities(model, own, LogMel(cfg.features, cfg.data.sample_rate), batch_size,
                                    progress=f"teacher {cfg.name}")
        probabilities.append(probs)
        # keyed by config name (a second run of one config, e.g. another seed, by its folder)
        reports[cfg.name if cfg.name not in reports else run.path.name] = split_report(
            data.table, data.labels, probs, data.class_names)
    ensemble = np.asarray(tempered_average([np.log(np.clip(p, 1e-12, 1.0)) for p in probabilities], 1.0, weights))
    reports["ensemble"] = split_report(data.table, data.labels, ensemble, data.class_names)
    if predictions_file is not None:
        from kasc.evaluation.output_csv import write_predictions

        write_predictions(predictions_file, data.table["filename"], ensemble, data.class_names)
    print(format_reports(dict(zip(column_labels([n.split("teacher_")[-1] for n in reports]), reports.values()))))
    return reports


def column_labels(names: list[str], width: int = 11) -> list[str]:
    """``names`` fitted to ``width`` characters for a table's columns: a longer name keeps
    its head and its tail (``mn04_…seed1``), where run names differ (seeds, held-out parts)."""
    head = (width - 1) // 2
    return [n if len(n) <= width else f"{n[:head]}…{n[-(width - head - 1):]}" for n in names]


def main(argv: list[str] | None = None) -> int:
    from kasc.cli import describe

    parser = argparse.ArgumentParser(prog="python -m kasc.evaluate", description=describe(__doc__))
    parser.add_argument("run", type=Path, help="a run folder (model.keras + config.yaml)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 TFLite model")
    args = parser.parse_args(argv)

    from kasc.config import ConfigError, load_config
    from kasc.training.runtime import quiet_expected_retracing

    quiet_expected_retracing()
    run = RunDir(args.run)
    if not run.model_file.is_file() or not run.config_file.is_file():
        print(f"error: {args.run} is not a finished run folder (needs model.keras and config.yaml)", file=sys.stderr)
        return 2
    from kasc.files.locks import LockBusy

    try:
        cfg = load_config(run.config_file)
        with run.owned():  # it rewrites metrics.json: not while a training run works there
            evaluate_run(run, cfg, int8=not args.no_int8)
    except (ConfigError, ValueError, OSError, LockBusy) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"written: {run.metrics_file}, {run.confusion_file}, {run.predictions_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
