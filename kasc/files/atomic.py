"""Atomic file writes: write to a temporary name beside the target, then rename.

A killed process never leaves a half-written file under the real name. The temporary
name keeps every suffix of the target (``model.keras`` -> ``model.tmp<pid>.keras``,
``last.weights.h5`` -> ``last.tmp<pid>.weights.h5``) because Keras, numpy and matplotlib
choose the format from it, and carries the process id so that two writers never share it.

A full disk is checked before writing where the size is known (``expected_bytes``, or
the size of the file being replaced, since the old file stays until the rename) and
turned into one :class:`DiskFullError` naming the file and the space needed when a write
fails anyway. Checking first matters for HDF5 files (Keras weights): h5py reacts to a
full disk with a cascade of errors and can crash the process.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from pathlib import Path

TEMPORARY_PATTERN = re.compile(r"\.tmp(\d+)\.")
"""What the temporary name of :func:`atomic_path` contains: ``.tmp<pid>.``."""


class DiskFullError(OSError):
    """Not enough free space to write a file. The message names the file, the bytes
    needed and the bytes free."""

    def __init__(self, path: Path, needed_bytes: int | None, free_bytes: int):
        needed = f"about {_size(needed_bytes)}" if needed_bytes else "more space"
        super().__init__(errno.ENOSPC, f"no space left to write {path}: it needs {needed}, "
                                       f"{_size(free_bytes)} free on that disk; free some space or "
                                       f"write elsewhere, then run the same command again")
        self.path, self.needed_bytes, self.free_bytes = Path(path), needed_bytes, free_bytes

    def __str__(self) -> str:
        return self.strerror


def _size(n_bytes: int | None) -> str:
    value = float(n_bytes or 0)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # unreachable


def free_bytes(folder: str | Path) -> int:
    """Free bytes on the disk holding ``folder`` (its nearest existing parent)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def ensure_free_space(path: str | Path, needed_bytes: int) -> None:
    """Raise :class:`DiskFullError` if the disk of ``path`` has less than ``needed_bytes`` free."""
    free = free_bytes(Path(path).parent)
    if needed_bytes > free:
        raise DiskFullError(Path(path), needed_bytes, free)


def is_disk_full(error: BaseException) -> bool:
    """True for a write that failed for lack of space: ``ENOSPC`` or ``EDQUOT`` from the
    OS, or h5py's RuntimeError quoting errno 28."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left on device" in text or "errno = 28" in text


def temporary_name(path: Path) -> Path:
    """The temporary name :func:`atomic_path` writes before renaming to ``path``."""
    stem, dot, suffixes = path.name.partition(".")
    return path.with_name(f"{stem}.tmp{os.getpid()}{dot}{suffixes}")


@contextlib.contextmanager
def atomic_path(path: str | Path, expected_bytes: int | None = None):
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    Args:
      path: the file to write.
      expected_bytes: the size about to be written, checked against the free space first;
        by default the size of the file being replaced (0 for a new file).

    Raises:
      DiskFullError: not enough free space before writing, or the write ran out of it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if expected_bytes is None:
        expected_bytes = path.stat().st_size if path.is_file() else 0
    if expected_bytes:
        ensure_free_space(path, expected_bytes)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        if is_disk_full(err) and not isinstance(err, DiskFullError):
            raise DiskFullError(path, expected_bytes, free_bytes(path.parent)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path, expected_bytes=len(text.encode()) + 4096) as tmp:
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
