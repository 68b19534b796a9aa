"""The floor every network must beat: log-mel statistics and a linear model, in seconds.

For every clip of a run's training and validation splits (the run's own cached audio and
front end): the mean and standard deviation over time of each mel band of the log-mel
(2 x n_mels numbers), standardised with the training clips' statistics, then scikit-learn's
multinomial logistic regression fitted on the training clips, its L2 strength C chosen
among a few values by cross-validated log loss on the training clips alone (folds grouped
by source recording where the clip table names it, so that slices of one recording never
sit on both sides). A network, or a teacher, that does not beat it on the validation split
has learned nothing a linear model on hand-made statistics does not already get.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kasc.data.pipeline import logmel_batches
from kasc.evaluation.metrics import classification_metrics

FLOOR_RECIPE = "log-mel band mean and std -> logistic regression"


def logmel_statistics(waveforms: np.ndarray, logmel, batch_size: int = 64) -> np.ndarray:
    """(n_clips, 2 * n_mels): per-band mean and standard deviation over time of each clip's
    log-mel (``logmel``: a :class:`kasc.data.features.LogMel`; ``waveforms`` (n_clips, samples))."""
    rows = []
    for spectra in logmel_batches(waveforms, logmel, batch_size):
        spectra = spectra[..., 0]  # (batch, frames, mels)
        rows.append(np.concatenate([spectra.mean(axis=1), spectra.std(axis=1)], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 2 * logmel.cfg.n_mels))


def _folds(labels: np.ndarray, recordings, max_folds: int):
    """Cross-validation folds of the training clips: grouped by recording where every clip
    names one, else stratified; None when some class has too few clips to split."""
    smallest = np.bincount(labels).min() if len(labels) else 0
    folds = int(min(max_folds, smallest))
    if folds < 2:
        return None
    if recordings is not None and all(recordings) and len(set(recordings)) >= folds:
        return list(GroupKFold(folds).split(labels, labels, list(recordings)))
    return list(StratifiedKFold(folds, shuffle=True, random_state=0).split(labels, labels))


def fit_floor(train_features: np.ndarray, train_labels: np.ndarray, recordings=None, max_folds: int = 3):
    """A fitted pipeline (standardiser + logistic regression) and a description of it."""
    present = np.flatnonzero(np.bincount(train_labels))
    used = train_labels if len(present) == train_labels.max() + 1 else np.searchsorted(present, train_labels)
    folds = _folds(used, recordings, max_folds)
    if folds is None:
        regression, how = LogisticRegression(C=1.0, max_iter=2000), "C=1 (too few clips per class to choose C)"
    else:
        regression = LogisticRegressionCV(Cs=5, cv=folds, scoring="neg_log_loss", max_iter=2000, l1_ratios=(0.0,),
                                          use_legacy_attributes=True)
        how = f"C chosen by {len(folds)}-fold CV log loss on the training clips"
    model = make_pipeline(StandardScaler(), regression)
    model.fit(train_features, train_labels)
    if folds is not None:
        how = f"C={float(regression.C_[0]):.3g}, " + how
    return model, f"{FLOOR_RECIPE} ({how})"


def logmel_floor(train, valid, logmel) -> dict:
    """The floor's figures on ``valid`` after fitting on ``train`` (both
    :class:`kasc.data.pipeline.SplitData` of one run): ``accuracy``, ``macro_class_accuracy``,
    ``log_loss`` (as :func:`kasc.evaluation.metrics.classification_metrics`), ``recipe``,
    ``seconds`` (wall time) and ``probabilities`` (n_valid, C)."""
    started = time.monotonic()
    recordings = list(train.table["recording"]) if "recording" in train.table else None
    model, recipe = fit_floor(logmel_statistics(train.waveforms, logmel), np.asarray(train.labels), recordings)
    probabilities = np.zeros((len(valid), len(train.class_names)))
    probabilities[:, model.classes_] = model.predict_proba(logmel_statistics(valid.waveforms, logmel))
    metrics = classification_metrics(np.asarray(valid.labels), probabilities, train.class_names)
    return {"accuracy": metrics["accuracy"], "macro_class_accuracy": metrics["macro_class_accuracy"],
            "log_loss": metrics["log_loss"], "recipe": recipe, "seconds": round(time.monotonic() - started, 1),
            "probabilities": probabilities}
