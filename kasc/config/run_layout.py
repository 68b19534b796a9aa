"""The names of the files in a run folder, shared by the run folder (:mod:`kasc.files.runs`)
and by the config loader, which recognises a run's ``config.yaml`` by them."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"
CHECKPOINT_DIR = "checkpoint"
LOG_CSV = "training_log.csv"
LOCK_FILE = ".kasc.lock"
RUN_MARKERS = (METRICS_FILE, CHECKPOINT_DIR, LOG_CSV, MODEL_FILE, LOCK_FILE)
"""Any of these beside a ``config.yaml`` makes its folder a run folder (once it trained)."""


def model_file_of(path: str | Path) -> Path:
    """A run folder means its ``model.keras``; a file (``.keras``, ``.tflite``, ``.npz``)
    itself. The file may be missing; callers say what they needed."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path


def is_run_config(path: Path) -> bool:
    """``path`` is a run folder's resolved ``config.yaml`` (``kasc.files.runs``)."""
    return path.name == CONFIG_FILE and any((path.parent / marker).exists() for marker in RUN_MARKERS)
