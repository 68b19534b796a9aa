"""Atomic file writes: write to a temporary name beside the target, then rename.

A killed process never leaves a half-written file under the real name. The temporary
name keeps every suffix of the target (``model.keras`` -> ``model.tmp<pid>.keras``,
``last.weights.h5`` -> ``last.tmp<pid>.weights.h5``) because Keras, numpy and matplotlib
choose the format from it, and carries the process id so that two writers never share it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem, dot, suffixes = path.name.partition(".")
    tmp = path.with_name(f"{stem}.tmp{os.getpid()}{dot}{suffixes}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, payload: dict) -> None:
    """Atomically write ``payload`` as indented JSON."""
    write_text(path, json.dumps(payload, indent=1) + "\n")


def read_json(path: str | Path) -> dict:
    """The JSON object in ``path``; {} if the file is missing or not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
