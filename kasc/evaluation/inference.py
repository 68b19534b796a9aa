"""A model's probabilities on every clip of a split (no augmentation), Keras or TFLite,
and a finished run read back with what it needs to run again (``finished_run``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from kasc.cli import progress_bar
from kasc.config import load_config
from kasc.data.features import LogMel
from kasc.data.pipeline import prepare_splits, Pipeline, steps_per_epoch, logmel_batches
from kasc.deployment.litert_runner import TFLiteModel
from kasc.files.checksums import require_exported_checksum
from kasc.models import load_model


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
    cfg = load_config(run.config_file)
    return FinishedRun(cfg, load_model(run.model_file),
                       prepare_splits(cfg.data, splits, progress=False, label=cfg.name),
                       LogMel(cfg.features, cfg.data.sample_rate))


def in_multi_worker_mode(strategy) -> bool:
    """True under ``MultiWorkerMirroredStrategy`` with more than one worker: then
    ``model.predict`` of a model built in its scope is a collective step that every worker
    must join. The one definition, here because evaluation (below training) needs it;
    ``kasc.training.distribute`` and the ``Distiller`` use it too."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def keras_probabilities(model, data, logmel, batch_size: int = 64, progress: str = "") -> np.ndarray:
    """Probabilities (n, C) of a Keras model on every clip of a split (no augmentation);
    ``progress`` given, a progress bar of that name on stderr."""
    spectra = Pipeline(data, logmel, batch_size).evaluation().map(lambda x, y: x)
    if not progress and not in_multi_worker_mode(model.distribute_strategy):
        return model.predict(spectra, verbose=0)
    # batch by batch: for the progress bar, and under several workers, where predict() is a
    # collective step that every worker must join (here one worker looks at the network alone)
    forward = tf.function(lambda x: model(x, training=False))
    return _batches_with_bar((forward(x).numpy() for x in spectra), steps_per_epoch(len(data), batch_size), progress)


def _batches_with_bar(outputs, batches: int, name: str) -> np.ndarray:
    """Concatenate the ``batches`` arrays ``outputs`` yields, with a tqdm bar of ``name``
    on stderr (none when ``name`` is empty)."""
    return np.concatenate(list(progress_bar(outputs, total=batches, desc=name, unit="batch", enabled=bool(name),
                                            leave=False)))


def tflite_probabilities(path: Path, data, logmel, batch_size: int = 64, progress: str = "") -> np.ndarray:
    """Probabilities (n, C) of a batch-1 TFLite model (LiteRT) on every clip of a split;
    ``progress`` given, a progress bar of that name on stderr. An exported file is checked
    against the checksum its export recorded first (``kasc.files.checksums``)."""
    require_exported_checksum(path)
    model = TFLiteModel(path)
    return _batches_with_bar((model(spectra) for spectra in logmel_batches(data.waveforms, logmel, batch_size)),
                             steps_per_epoch(len(data), batch_size), progress)
