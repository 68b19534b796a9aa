"""A run's folder ``saved_models/<run>/``: what is written there, and resuming.

Layout:
  config.yaml             the resolved config (every field), written before training
  checkpoint/             last finished epoch: ``last.weights.h5`` (student, teachers,
                          optimiser) and ``state.json`` ({"epoch": n, ...})
  training_log.csv        one row per epoch (Keras CSVLogger, appended on resume)
  tensorboard/            TensorBoard logs (``tensorboard --logdir saved_models``)
  model.keras             the trained student (or teacher)
  model_float32.tflite, model_int8.tflite, model_export.json   (export)
  complexity.json         the int8 model's audit against the DCASE 2023 limits
  metrics.json            validation metrics; ``"finished": true`` once the run is done

Every file is written to a temporary name and renamed, so a killed run never leaves a
half-written checkpoint or model. Running the same command again resumes from
``checkpoint/`` if the config is the same, and refuses (naming the differing keys)
if it is not.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import yaml

from kasc.atomic import atomic_path, read_json, write_json, write_text
from kasc.config import CONFIG_DIR, ExperimentConfig

RUNS_DIR = CONFIG_DIR.parent / "saved_models"


class RunConfigMismatch(RuntimeError):
    """A run folder holds a run of a different config."""


def default_run_dir(cfg: ExperimentConfig, profile: str | None) -> Path:
    """``saved_models/<name>`` (full profile) or ``saved_models/<name>-<profile>``."""
    return RUNS_DIR / (f"{cfg.name}-{profile}" if profile else cfg.name)


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}: {vb!r} -> {va!r}")
    return out


class RunDir:
    """The folder of one run."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.checkpoint_dir = self.path / "checkpoint"
        self.weights = self.checkpoint_dir / "last.weights.h5"
        self.state_file = self.checkpoint_dir / "state.json"
        self.config_file = self.path / "config.yaml"
        self.model_file = self.path / "model.keras"
        self.metrics_file = self.path / "metrics.json"
        self.log_csv = self.path / "training_log.csv"
        self.tensorboard_dir = self.path / "tensorboard"
        self.complexity_file = self.path / "complexity.json"
        self.teachers_file = self.path / "teachers.json"  # a distilled run's teacher table
        self.int8_file = self.path / "model_int8.tflite"

    @classmethod
    def locate(cls, path: str | Path) -> tuple["RunDir", Path]:
        """A run folder or a model file inside one -> (its run, the model file): a folder
        means its ``model.keras``, a file (``.keras``, ``.tflite``) itself. The file may be
        missing; callers say what they needed."""
        path = Path(path)
        if path.is_dir():
            run = cls(path)
            return run, run.model_file
        return cls(path.parent), path

    @property
    def config_if_any(self) -> Path | None:
        """``config.yaml`` if the run has one (a bare model file's folder may not)."""
        return self.config_file if self.config_file.is_file() else None

    # -------------------------------------------------------------- config and status

    def start(self, cfg: ExperimentConfig, restart: bool = False) -> None:
        """Write ``config.yaml``; an existing run of another config is an error unless
        ``restart`` (which discards its checkpoint and results)."""
        config = _plain(cfg.to_dict())
        if self.config_file.is_file() and not restart:
            diff = _differences(config, self._stored_config())
            if diff:
                raise RunConfigMismatch(
                    f"{self.path} holds a run of a different config ({'; '.join(diff[:5])}). "
                    f"Use --restart to discard it, or --run-dir for a new folder.")
        if restart:
            for path in (self.weights, self.state_file, self.metrics_file, self.log_csv, self.model_file):
                path.unlink(missing_ok=True)
        write_text(self.config_file, yaml.safe_dump(config, sort_keys=False))

    def _stored_config(self) -> dict:
        """The stored config with defaults filled in for fields added to kasc since it was
        written (a new field at its default is not a difference)."""
        from kasc.config import ConfigError, load_config

        try:
            return _plain(load_config(self.config_file).to_dict())
        except ConfigError:  # a field kasc no longer knows: compare the raw files
            return yaml.safe_load(self.config_file.read_text()) or {}

    def is_finished(self) -> bool:
        """True when the run completed (metrics written and the model saved)."""
        return self.model_file.is_file() and bool(self.metrics().get("finished"))

    def metrics(self) -> dict:
        """The run's ``metrics.json``, {} if not written yet."""
        return read_json(self.metrics_file)

    def state(self) -> dict:
        """The checkpoint's state (``epoch``: finished epochs, ``train_seconds``), {} if none."""
        return read_json(self.state_file) if self.weights.is_file() else {}

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self, model: keras.Model, epoch: int, train_seconds: float) -> None:
        """Save weights (with the optimiser) after ``epoch`` finished epochs, atomically."""
        with atomic_path(self.weights) as tmp:
            model.save_weights(tmp)
        write_json(self.state_file, {"epoch": int(epoch), "train_seconds": round(train_seconds, 1),
                                     "saved": time.strftime("%Y-%m-%d %H:%M:%S")})

    def save_model(self, model: keras.Model) -> None:
        """Save the trained network as ``model.keras`` (atomic)."""
        with atomic_path(self.model_file) as tmp:
            model.save(tmp)


def _plain(tree):
    """Tuples -> lists so that YAML round trips compare equal."""
    if isinstance(tree, dict):
        return {k: _plain(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_plain(v) for v in tree]
    return tree


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the run's checkpoint at the end of every epoch (unless training diverged).

    Args:
      run: the run folder.
      train_seconds: training time spent before this session (resumed runs).
    """

    def __init__(self, run: RunDir, train_seconds: float = 0.0):
        super().__init__()
        self.run = run
        self.train_seconds = train_seconds
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.monotonic() - self._epoch_start
        if getattr(self.model, "diverged", None):
            return
        self.run.save_checkpoint(self.model, epoch + 1, self.train_seconds)
