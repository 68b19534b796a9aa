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
import pandas as pd

from kasc.metrics import classification_metrics
from kasc.atomic import atomic_path, write_json
from kasc.runs import RunDir

DEVICE_GROUPS = {"seen": ("a", "b", "c", "s1", "s2", "s3"), "unseen": ("s4", "s5", "s6")}  # TAU22 fold 1


def keras_probabilities(model, data, logmel, batch_size: int = 64) -> np.ndarray:
    """Probabilities (n, C) of a Keras model on every clip of a split (no augmentation)."""
    from kasc.data.pipeline import Pipeline

    return model.predict(Pipeline(data, logmel, batch_size).evaluation().map(lambda x, y: x), verbose=0)


def tflite_probabilities(path: Path, data, logmel, batch_size: int = 64) -> np.ndarray:
    """Probabilities (n, C) of a batch-1 TFLite model (LiteRT) on every clip of a split."""
    from kasc.data.pipeline import logmel_batches
    from kasc.litert_runner import TFLiteModel

    model = TFLiteModel(path)
    return np.concatenate([model(spectra) for spectra in logmel_batches(data.waveforms, logmel, batch_size)])


def _group_metrics(labels, probabilities, class_names, mask) -> dict:
    from sklearn.metrics import log_loss

    labels, probabilities = labels[mask], probabilities[mask]
    return {"clips": int(mask.sum()),
            "accuracy": float(np.mean(probabilities.argmax(1) == labels)),
            "log_loss": float(log_loss(labels, probabilities, labels=np.arange(len(class_names))))}


def split_report(table: pd.DataFrame, labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict:
    """Classification metrics plus per-device figures (and seen / unseen groups when the
    split has TAU22's devices)."""
    probabilities = np.asarray(probabilities, np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    report = classification_metrics(labels, probabilities, class_names)
    devices = table["device"].astype(str).to_numpy()
    if (devices != "").any():
        report["per_device"] = {d: _group_metrics(labels, probabilities, class_names, devices == d)
                                for d in sorted(set(devices))}
        if set(devices) <= set(DEVICE_GROUPS["seen"] + DEVICE_GROUPS["unseen"]):
            report["device_groups"] = {g: _group_metrics(labels, probabilities, class_names, np.isin(devices, members))
                                       for g, members in DEVICE_GROUPS.items() if np.isin(devices, members).any()}
    return report


def save_confusion_png(path: Path, matrix, class_names: list[str], title: str) -> Path:
    """Row-normalised confusion matrix as a PNG (counts written in the cells)."""
    figure = confusion_figure(matrix, class_names, title)
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)
    return path


def confusion_figure(matrix, class_names: list[str], title: str):
    """A matplotlib figure of the row-normalised confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 2.0 + 0.55 * len(class_names)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(class_names)), class_names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=9)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            if matrix[i, j]:
                axes.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                          color="white" if rates[i, j] > 0.5 else "black")
    figure.tight_layout()
    return figure


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


def evaluate_run(run: RunDir, cfg, valid_data=None, int8: bool = True, batch_size: int = 64) -> dict:
    """Evaluate the run's ``model.keras`` (and ``model_int8.tflite``) on the validation
    split; write metrics.json (merged with what is there), confusion.png and the DCASE
    output CSV; return the Keras report with the int8 one under ``"int8"``."""
    from kasc.features import LogMel
    from kasc.models import load_model
    from kasc.output_csv import write_predictions

    if valid_data is None:
        from kasc.data.pipeline import prepare_splits

        valid_data = prepare_splits(cfg, splits=("train", "valid"), progress=False)["valid"]
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    model = load_model(run.model_file)
    probabilities = keras_probabilities(model, valid_data, logmel, batch_size)
    reports = {"keras": split_report(valid_data.table, valid_data.labels, probabilities, valid_data.class_names)}
    if int8 and run.int8_file.is_file():
        int8_probabilities = tflite_probabilities(run.int8_file, valid_data, logmel, batch_size)
        reports["int8"] = split_report(valid_data.table, valid_data.labels, int8_probabilities, valid_data.class_names)
    write_predictions(run.path / "predictions_valid.csv", valid_data.table["filename"], probabilities,
                      valid_data.class_names)
    keras_report = reports["keras"]
    save_confusion_png(run.path / "confusion.png", keras_report["confusion_matrix"], keras_report["class_names"],
                       f"{cfg.name}: accuracy {keras_report['accuracy']:.3f} on {keras_report['clips']} clips")
    metrics = {**run.metrics(), **keras_report}
    if "int8" in reports:
        metrics["int8"] = {k: v for k, v in reports["int8"].items() if k not in ("class_names",)}
        metrics["int8_accuracy_drop"] = keras_report["accuracy"] - reports["int8"]["accuracy"]
    write_json(run.metrics_file, metrics)
    print(format_reports(reports))
    return metrics


def ensemble_report(runs: list[RunDir], weights=(), batch_size: int = 32) -> dict:
    """The report's Table 2: each teacher run and their ensemble (weighted average of
    probabilities) on the teachers' validation split; printed, and returned as
    ``{name: split_report}``. All teachers must share the data config, except the sample
    rate: each teacher sees the clips at its own rate, through its own front end."""
    import dataclasses

    from kasc.config import load_config
    from kasc.data.pipeline import at_sample_rate, prepare_splits
    from kasc.features import LogMel
    from kasc.models import load_model
    from kasc.models.ensemble import tempered_average

    configs = [load_config(run.config_file) for run in runs]
    clips = [dataclasses.replace(cfg.data, sample_rate=0, cache_logmel=False) for cfg in configs]
    if any(c != clips[0] for c in clips):
        raise ValueError("the teachers were trained on different data configs; their ensemble cannot be evaluated "
                         f"on one split ({', '.join(str(r.path) for r in runs)})")
    data = prepare_splits(configs[0], progress=False)["valid"]
    reports, probabilities = {}, []
    for run, cfg in zip(runs, configs):
        model = load_model(run.model_file)
        own = at_sample_rate(configs[0], data, cfg.data.sample_rate, progress=False)
        probs = keras_probabilities(model, own, LogMel(cfg.features, cfg.data.sample_rate), batch_size)
        probabilities.append(probs)
        reports[cfg.name] = split_report(data.table, data.labels, probs, data.class_names)
    ensemble = np.asarray(tempered_average([np.log(np.clip(p, 1e-12, 1.0)) for p in probabilities], 1.0, weights))
    reports["ensemble"] = split_report(data.table, data.labels, ensemble, data.class_names)
    print(format_reports({name.split("teacher_")[-1][:11]: r for name, r in reports.items()}))
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kasc.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder (model.keras + config.yaml)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 TFLite model")
    args = parser.parse_args(argv)

    from kasc.config import ConfigError, load_config
    from kasc.runtime import quiet_expected_retracing

    quiet_expected_retracing()
    run = RunDir(args.run)
    if not run.model_file.is_file() or not run.config_file.is_file():
        print(f"error: {args.run} is not a finished run folder (needs model.keras and config.yaml)", file=sys.stderr)
        return 2
    from kasc.locks import LockBusy

    try:
        cfg = load_config(run.config_file)
        with run.owned():  # it rewrites metrics.json: not while a training run works there
            evaluate_run(run, cfg, int8=not args.no_int8)
    except (ConfigError, ValueError, OSError, LockBusy) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"written: {run.metrics_file}, {run.path / 'confusion.png'}, {run.path / 'predictions_valid.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
