"""The log-mel normalisation constants of new data, measured on its training clips.

``features.normalize_mean`` / ``normalize_std`` are constants of a config, so that a saved
run's front end is its config. For data whose statistics nobody wrote down
(``features.measure_normalization: true``, the ``own_data`` config), ``python -m
kasc.train`` measures them before the run starts: the mean and standard deviation of the
un-normalised log-mel over every frame and band of the training clips. They are written
into the run's ``config.yaml`` (with ``measure_normalization`` kept true, so the same
command measures the same values and resumes).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kasc.config import DataConfig, ExperimentConfig, FeatureConfig
from kasc.data.features import LogMel
from kasc.data.pipeline import logmel_batches, prepare_splits


def measure_normalization(data: DataConfig, features: FeatureConfig, progress: bool = True, batch_size: int = 64,
                          label: str = "data") -> tuple[float, float]:
    """(mean, standard deviation) of the log-mel (``features``, before normalisation) of the
    training clips of the ``data`` section, in float64 over all frames and bands, from the
    audio cache."""
    train = prepare_splits(data, splits=("train",), progress=progress, label=label)["train"]
    raw = dataclasses.replace(features, normalize_mean=0.0, normalize_std=1.0)
    total = total_sq = count = 0.0
    for spectra in logmel_batches(train.waveforms, LogMel(raw, data.sample_rate), batch_size):
        values = spectra.astype(np.float64)
        total += values.sum()
        total_sq += np.square(values).sum()
        count += values.size
    mean = total / count
    std = float(np.sqrt(max(total_sq / count - mean * mean, 0.0)))
    if not std > 0:
        raise ValueError(f"the training clips' log-mel has no spread (std {std}): are they all silent?")
    return float(mean), std


def with_measured_normalization(cfg: ExperimentConfig, progress: bool = True,
                                measured: tuple[float, float] | None = None) -> ExperimentConfig:
    """``cfg`` with measured constants if ``features.measure_normalization``, else as it is;
    ``measured``: (mean, std) measured before (a resumed run's), used as they are."""
    if not cfg.features.measure_normalization:
        return cfg
    mean, std = measured or measure_normalization(cfg.data, cfg.features, progress, label=cfg.name)
    return dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, normalize_mean=round(mean, 4),
                                                                 normalize_std=round(std, 4)))
