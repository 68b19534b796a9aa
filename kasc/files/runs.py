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
  model_qat_int8.tflite, qat.json   quantization-aware training (``kasc.qat``)
  device_shift.json       accuracy on unseen devices (``kasc.device_shift``)
  metrics.json            validation metrics; ``"finished": true`` once the run is done
  teachers.json, teachers_valid.csv   a distilled run's teachers and their ensemble's
                          validation predictions (``teacher_agreement`` in metrics.json)
  .kasc.lock, .kasc.lock.json   held while a process works in the folder (``kasc.files.locks``)

Every file is written to a temporary name and renamed, so a killed run never leaves a
half-written checkpoint or model, and a full disk is reported before a write where
possible (``kasc.files.atomic``). A folder belongs to one process at a time (:meth:`RunDir.owned`).
Running the same command again resumes from ``checkpoint/`` if the config is the same
(apart from how it is executed: ``EXECUTION_SETTINGS``), and refuses (naming the
differing keys) if it is not, unless no epoch was ever finished there (a run that
failed at the start does not block a corrected one).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import yaml

from kasc.config import ExperimentConfig, ConfigError, load_config
from kasc.config.run_layout import (CHECKPOINT_DIR, CONFIG_FILE, LOCK_FILE, LOG_CSV, METRICS_FILE, MODEL_FILE,
                                    model_file_of)
from kasc.files.atomic import TEMPORARY_PATTERN, atomic_path, read_json, write_json, write_text
from kasc.files.interrupts import stops_held
from kasc.files.locks import exclusive, lock_is_free, orphaned_temporary


class RunConfigMismatch(RuntimeError):
    """A run folder holds a run of a different config."""


class CorruptCheckpoint(RuntimeError):
    """A run folder's checkpoint (weights or state) is damaged."""


def default_run_dir(cfg: ExperimentConfig, profile: str | None) -> Path:
    """``saved_models/<name>`` (full profile) or ``saved_models/<name>-<profile>``, in the
    current directory: a run lands where the command was given (in the kasc clone, its
    ``saved_models/``)."""
    return Path.cwd() / "saved_models" / (f"{cfg.name}-{profile}" if profile else cfg.name)


EXECUTION_SETTINGS = frozenset({"train.strategy", "train.devices", "train.intra_op_threads",
                                "train.inter_op_threads"})
"""Config keys that say how a run is executed, not what it trains: a run may resume, or
be reused as a teacher, under other values (e.g. started on one machine, continued on
several)."""


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for key in keys:
        if f"{prefix}{key}" in EXECUTION_SETTINGS:
            continue
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
        self.checkpoint_dir = self.path / CHECKPOINT_DIR
        self.weights = self.checkpoint_dir / "last.weights.h5"
        self.state_file = self.checkpoint_dir / "state.json"
        self.config_file = self.path / CONFIG_FILE
        self.model_file = self.path / MODEL_FILE
        self.metrics_file = self.path / METRICS_FILE
        self.log_csv = self.path / LOG_CSV
        self.tensorboard_dir = self.path / "tensorboard"
        self.complexity_file = self.path / "complexity.json"
        self.teachers_file = self.path / "teachers.json"  # a distilled run's teacher table
        self.teacher_predictions_file = self.path / "teachers_valid.csv"  # their ensemble on the validation split
        self.int8_file = self.path / "model_int8.tflite"
        self.predictions_file = self.path / "predictions_valid.csv"  # DCASE output format
        self.confusion_file = self.path / "confusion.png"
        self.qat_int8_file = self.path / "model_qat_int8.tflite"
        self.qat_file = self.path / "qat.json"
        self.device_shift_file = self.path / "device_shift.json"
        self.lock_file = self.path / LOCK_FILE

    @contextlib.contextmanager
    def owned(self, wait: bool = False, say=None):
        """Hold the folder for this process: a second process is refused with the pid and
        command of the first (``wait``: it waits instead, as a student does for a teacher
        run another student is training). Temporary files left in the folder by a killed
        process are removed once the folder is held.

        Raises:
          kasc.files.locks.LockBusy: another process holds the folder and ``wait`` is False.
        """
        with exclusive(self.lock_file, f"run folder {self.path}", wait=wait, say=say):
            self.remove_orphaned_temporaries(say)
            yield self

    def remove_if_unused(self) -> bool:
        """Remove the folder if it holds nothing but ``config.yaml`` and its lock files (a
        run refused or stopped before any result, teacher or checkpoint): a new run that
        failed leaves no folder behind. Call it with the folder no longer held. Returns
        whether the folder was removed."""
        if not self.path.is_dir() or not lock_is_free(self.lock_file):
            return False
        files = list(self.path.iterdir())
        if any(p.is_dir() or not (p == self.config_file or p.name.startswith(self.lock_file.name)) for p in files):
            return False
        for path in files:
            path.unlink(missing_ok=True)
        self.path.rmdir()
        return True

    def remove_orphaned_temporaries(self, say=None) -> list[Path]:
        """Delete ``*.tmp<pid>.*`` files (``kasc.files.atomic``) of processes no longer running."""
        removed = []
        if self.path.is_dir():
            for path in sorted(self.path.rglob("*.tmp*.*")):
                if orphaned_temporary(path):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        if removed and say:
            say(f"removed {len(removed)} temporary file(s) left by a killed run: "
                f"{', '.join(p.name for p in removed[:3])}{'...' if len(removed) > 3 else ''}")
        return removed

    def copy_into(self, folder: Path) -> "RunDir":
        """Replace ``folder`` with a copy of this run's files (not its lock, owner record,
        TensorBoard logs or temporary files) and return it as a run: how a multi-worker
        run's other workers start from the chief's state (``kasc.training.distribute``). Files
        are written here atomically, so a copy holds whole files."""
        folder = Path(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if self.path.is_dir():
            shutil.copytree(self.path, folder, ignore=lambda _, names: [
                n for n in names if n.startswith(self.lock_file.name) or n == self.tensorboard_dir.name
                or TEMPORARY_PATTERN.search(n)])
        else:
            folder.mkdir(parents=True)
        return RunDir(folder)

    @classmethod
    def locate(cls, path: str | Path) -> tuple["RunDir", Path]:
        """A run folder or a model file inside one -> (its run, the model file): a folder
        means its ``model.keras``, a file (``.keras``, ``.tflite``) itself. The file may be
        missing; callers say what they needed."""
        path = Path(path)
        return cls(path if path.is_dir() else path.parent), model_file_of(path)

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
            if diff and self.never_trained():
                print(f"kasc: {self.path}: no epoch was finished under its earlier config "
                      f"({'; '.join(diff[:3])}); starting afresh with this one", flush=True)
                restart = True
            elif diff:
                raise RunConfigMismatch(
                    f"{self.path} holds a run of a different config ({'; '.join(diff[:5])}). "
                    f"Use --restart to discard it, or --run-dir for a new folder.")
        if restart:
            for path in (self.weights, self.state_file, self.metrics_file, self.log_csv, self.model_file):
                path.unlink(missing_ok=True)
        write_text(self.config_file, yaml.safe_dump(config, sort_keys=False))

    def stored_normalization(self, cfg: ExperimentConfig) -> tuple[float, float] | None:
        """The log-mel constants this folder's run measured when it started
        (``features.measure_normalization``), when it is a run of ``cfg``: every other
        setting equal. A resumed or reused run keeps the constants it was trained with, and
        does not decode and measure its training clips again. None otherwise (no run here,
        another config, constants not measured)."""
        if not self.config_file.is_file():
            return None
        try:
            stored = load_config(self.config_file, run_config=True)
        except ConfigError:
            return None
        if not stored.features.measure_normalization:
            return None
        mean, std = stored.features.normalize_mean, stored.features.normalize_std
        same = dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, normalize_mean=mean,
                                                                     normalize_std=std))
        return None if _differences(_plain(same.to_dict()), _plain(stored.to_dict())) else (mean, std)

    def _stored_config(self) -> dict:
        """The stored config with defaults filled in for fields added to kasc since it was
        written (a new field at its default is not a difference)."""
        try:
            return _plain(load_config(self.config_file, run_config=True).to_dict())
        except ConfigError:  # a field kasc no longer knows: compare the raw files
            return yaml.safe_load(self.config_file.read_text()) or {}

    def outputs(self) -> list[str]:
        """What the folder holds, as a run's last lines list it: every file and folder
        (folders with a trailing ``/``), lock files and their owner records left out."""
        return sorted(p.name + ("/" if p.is_dir() else "") for p in self.path.iterdir()
                      if not p.name.startswith(".") and not p.name.endswith((".lock", ".lock.json")))

    def never_trained(self) -> bool:
        """True when no epoch finished here: no checkpoint, model or metrics."""
        return not any(path.is_file() for path in (self.weights, self.model_file, self.metrics_file))

    def is_finished(self) -> bool:
        """True when the run completed (metrics written and the model saved)."""
        return self.model_file.is_file() and bool(self.metrics().get("finished"))

    def metrics(self) -> dict:
        """The run's ``metrics.json``, {} if not written yet."""
        return read_json(self.metrics_file)

    def state(self, planned_epochs: int | None = None) -> dict:
        """The checkpoint's state (``epoch``: finished epochs, ``train_seconds``), {} if none
        (also when the weights of a first epoch were written but not yet its state).

        Raises:
          CorruptCheckpoint: the state file is there but unreadable, or says more epochs than
            the run has (``planned_epochs``) or than ``training_log.csv`` records; or the
            checkpoint is missing (weights or state removed) while the log records epochs
            that only it could resume. Which epoch the weights hold is then unknown, and
            training again from epoch 0 would be a silent loss.
        """
        logged = self.logged_epochs()
        if not (self.weights.is_file() and self.state_file.is_file()):
            # a kill between the first epoch's log row and its checkpoint leaves 1 row and no checkpoint
            if logged >= 2 or (self.state_file.is_file() and not self.weights.is_file()):
                missing = self.weights if not self.weights.is_file() else self.state_file
                raise CorruptCheckpoint(f"{self.path}: {self.log_csv.name} records {logged} finished epoch(s) but "
                                        f"{missing.relative_to(self.path)} is missing, so the run cannot resume; "
                                        f"training again from epoch 1 would replace them. Put the checkpoint back, or "
                                        f"run the same command with --restart to train from scratch")
            return {}
        try:
            state = json.loads(self.state_file.read_text())
            epoch = int(state["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CorruptCheckpoint(f"{self.state_file}: damaged checkpoint state ({type(err).__name__}: {err}); "
                                    f"which epoch {self.weights.name} holds is unknown. Run the same command with "
                                    f"--restart to train from scratch") from None
        # the checkpoint may be one epoch ahead of the log (killed between the two writes)
        beyond = ("below 0" if epoch < 0 else
                  f"the run has {planned_epochs}" if planned_epochs is not None and epoch > planned_epochs else
                  f"{self.log_csv.name} records {logged}" if self.log_csv.is_file() and epoch > logged + 1 else "")
        if beyond:
            raise CorruptCheckpoint(f"{self.state_file}: says {epoch} finished epoch(s), but {beyond}; which epoch "
                                    f"{self.weights.name} holds is unknown. Run the same command with --restart to "
                                    f"train from scratch")
        return state

    def logged_epochs(self) -> int:
        """Rows of epochs in ``training_log.csv`` (0 if there is none or it cannot be read)."""
        try:
            with open(self.log_csv, newline="") as handle:
                return max(0, sum(1 for row in csv.reader(handle) if row) - 1)
        except OSError:
            return 0

    def load_checkpoint(self, model) -> None:
        """Load the checkpoint's weights into ``model`` (built, optimiser slots included).

        Raises:
          CorruptCheckpoint: the weights file is cut short or garbled (named, with the way out).
        """
        try:
            model.load_weights(self.weights)
        except Exception as err:  # h5py's OSError, Keras' ValueError on a mismatched or garbled file
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CorruptCheckpoint(f"{self.weights}: damaged checkpoint, it cannot be read ({first[:200]}); the "
                                    f"epochs it held are lost. Run the same command with --restart to train from "
                                    f"scratch") from None

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self, model, epoch: int, train_seconds: float) -> None:
        """Save weights (with the optimiser) after ``epoch`` finished epochs, atomically,
        after checking the free space (the previous checkpoint's size, or an estimate)."""
        expected = self.weights.stat().st_size if self.weights.is_file() else weights_file_bytes(model)
        with stops_held():  # a stop waits for both files: weights and epoch count agree
            with atomic_path(self.weights, expected_bytes=expected) as tmp:
                model.save_weights(tmp)
            write_json(self.state_file, {"epoch": int(epoch), "train_seconds": round(train_seconds, 1),
                                         "saved": time.strftime("%Y-%m-%d %H:%M:%S")})

    def save_model(self, model) -> None:
        """Save the trained network as ``model.keras`` (atomic), in the form Keras alone can
        read where kasc's layers allow it (:func:`kasc.models.saved.save_model`)."""
        from kasc.models.saved import save_model  # Keras: run folders are read by light commands too

        with stops_held(), atomic_path(self.model_file, expected_bytes=weights_file_bytes(model)) as tmp:
            save_model(model, tmp)

    def trim_log(self, epochs: int) -> None:
        """Keep the first ``epochs`` rows of ``training_log.csv`` (the checkpointed ones):
        an epoch logged but not checkpointed (killed, disk full) is trained again on
        resume and must not appear twice."""
        if not self.log_csv.is_file():
            return
        with open(self.log_csv, newline="") as handle:
            rows = list(csv.reader(handle))
        if len(rows) <= 1:
            return
        header, body = rows[0], rows[1:]
        column = header.index("epoch") if "epoch" in header else None
        kept = [row for row in body if column is None or (row[column].isdigit() and int(row[column]) < epochs)]
        if len(kept) == len(body):
            return
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([header] + kept)
        write_text(self.log_csv, out.getvalue())


def weights_file_bytes(model) -> int:
    """A generous estimate of the size of ``model``'s weights file (with its optimiser's
    variables if compiled): 4 bytes per value plus HDF5's ~1.1 KB per variable (measured:
    SERFR-CNN widths 4-32 with Adam, 297 variables, 335-956 KB), plus 10 % and 64 KB."""
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        variables += list(optimizer.variables)
    values = sum(int(np.prod(v.shape)) * np.dtype(getattr(v, "dtype", "float32")).itemsize for v in variables)
    return int(1.1 * (values + 1100 * len(variables))) + 65536


def _plain(tree):
    """Tuples -> lists so that YAML round trips compare equal."""
    if isinstance(tree, dict):
        return {k: _plain(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_plain(v) for v in tree]
    return tree
