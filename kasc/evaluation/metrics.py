"""Classification metrics as DCASE reports them, computed with scikit-learn.

DCASE Task 1 ranks by the class-wise macro average of accuracy (each class's accuracy,
then their mean) and reports the multi-class log loss, also per recording device.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss

from kasc.data.tau import TAU22_SEEN_DEVICES, TAU22_UNSEEN_DEVICES

DEVICE_GROUPS = {"seen": TAU22_SEEN_DEVICES, "unseen": TAU22_UNSEEN_DEVICES}
"""TAU22 fold 1's devices seen in training and unseen (only in evaluation)."""


SUMMARY_KEYS = ("clips", "accuracy", "macro_class_accuracy", "log_loss")
"""The headline figures of a report, as tables and result files list them."""


HELD_OUT_FIELDS = ("held_out", "validation_clips_trained_on", "held_out_note")
"""The ``metrics.json`` fields :func:`held_out_fields` writes."""


def summary(report: dict) -> dict:
    """The ``SUMMARY_KEYS`` of a report (None where it lacks one)."""
    return {key: report.get(key) for key in SUMMARY_KEYS}


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, class-macro accuracy, log loss, per-class accuracy and confusion matrix.

    Args:
      labels: int (n,) true class indices.
      probabilities: float (n, C) predicted probabilities (rows are renormalised).
      class_names: the C class names, in column order.

    Returns:
      a JSON-ready dict; a class with no clips has accuracy None and is left out of
      the macro average.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(class_names)
    if probabilities.ndim != 2 or probabilities.shape != (len(labels), n_classes):
        raise ValueError(f"probabilities must be ({len(labels)}, {n_classes}), got {probabilities.shape}")
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, labels=np.arange(n_classes))
    support = matrix.sum(axis=1)
    per_class = {name: (float(matrix[i, i] / support[i]) if support[i] else None)
                 for i, name in enumerate(class_names)}
    present = [v for v in per_class.values() if v is not None]
    return {
        "clips": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_class_accuracy": float(np.mean(present)) if present else None,
        "log_loss": float(log_loss(labels, probabilities, labels=np.arange(n_classes))),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
    }


def _group_metrics(labels, probabilities, class_names, mask) -> dict:
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


def held_out_fields(valid_clips: int, trained_on: int) -> dict:
    """``metrics.json``'s ``held_out`` (no validation clip was trained on) and, when some
    were, how many and what that means for the scores (``HELD_OUT_FIELDS``)."""
    if not trained_on:
        return {"held_out": True}
    return {"held_out": False, "validation_clips_trained_on": trained_on,
            "held_out_note": f"{trained_on} of the {valid_clips} validation clips were trained on "
                             "(data.allow_overlap): accuracy, log loss and the per-class figures are scores on "
                             "training clips, not estimates of accuracy on new audio"}
