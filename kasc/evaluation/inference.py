"""A model's probabilities on every clip of a split (no augmentation), Keras or TFLite,
and a finished run read back with what it needs to run again (``finished_run``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np


@dataclasses.dataclass
class FinishedRun:
    """A finished run read back: its config, ``model.keras``, decoded splits and front end."""

    cfg: object  # kasc.config.ExperimentConfig
    model: object  # keras.Model
    splits: dict  # "train" / "valid" -> kasc.data.pipeline.SplitData
    logmel: object  # kasc.data.features.LogMel


def finished_run(run, splits: tuple[str, ...] = ("train", "valid")) -> FinishedRun:
    """Load ``run`` (a :class:`kasc.files.runs.RunDir`): config, model, the ``splits`` through
    the audio cache, and the run's own front end."""
    from kasc.config import load_config
    from kasc.data.pipeline import prepare_splits
    from kasc.data.features import LogMel
    from kasc.models import load_model

    cfg = load_config(run.config_file)
    return FinishedRun(cfg, load_model(run.model_file), prepare_splits(cfg, splits, progress=False),
                       LogMel(cfg.features, cfg.data.sample_rate))


def keras_probabilities(model, data, logmel, batch_size: int = 64) -> np.ndarray:
    """Probabilities (n, C) of a Keras model on every clip of a split (no augmentation)."""
    import tensorflow as tf

    from kasc.data.pipeline import Pipeline
    from kasc.training.distribute import in_multi_worker_mode

    spectra = Pipeline(data, logmel, batch_size).evaluation().map(lambda x, y: x)
    if not in_multi_worker_mode(model.distribute_strategy):
        return model.predict(spectra, verbose=0)
    # under several workers predict() is a collective step that every worker must join;
    # here one worker looks at the network on its own
    forward = tf.function(lambda x: model(x, training=False))
    return np.concatenate([forward(x).numpy() for x in spectra])


def tflite_probabilities(path: Path, data, logmel, batch_size: int = 64) -> np.ndarray:
    """Probabilities (n, C) of a batch-1 TFLite model (LiteRT) on every clip of a split."""
    from kasc.data.pipeline import logmel_batches
    from kasc.deployment.litert_runner import TFLiteModel

    model = TFLiteModel(path)
    return np.concatenate([model(spectra) for spectra in logmel_batches(data.waveforms, logmel, batch_size)])
