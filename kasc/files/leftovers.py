"""What interrupted or finished work leaves behind (``python -m kasc.clean``): temporary files of
atomic writes, unfinished cache entries, worker scratch folders of multi-worker runs."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kasc.config.run_layout import LOCK_FILE
from kasc.files.atomic import TEMPORARY_PATTERN, read_json
from kasc.files.locks import lock_is_free, lock_of_owner_record, orphaned_temporary, pid_alive

WORKER_FOLDER_PATTERN = re.compile(r"kasc-worker(\d+)-pid(\d+)-")
"""Names of the temporary folders of multi-worker runs' other workers
(``kasc.training.distribute.worker_folder``): worker index, pid."""


@dataclass(frozen=True)
class Leftover:
    """A file a run left behind."""

    path: Path
    reason: str

    @property
    def size_bytes(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return self.path.stat().st_size if self.path.is_file() else 0

    def remove(self) -> None:
        if self.path.is_dir():
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.path.unlink(missing_ok=True)


def readable_npy(path: Path) -> bool:
    """Whether a ``.npy`` file's header and size agree (a cut-short or garbled cache entry does not)."""
    try:
        np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError):
        return False
    return True


def find_leftovers(folders: list[Path]) -> list[Leftover]:
    """Leftover files under ``folders`` (recursively), sorted by path."""
    found = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            name = path.name
            temporary = TEMPORARY_PATTERN.search(name)
            if temporary:
                if orphaned_temporary(path):
                    found.append(Leftover(path, f"temporary file of pid {temporary.group(1)}, no longer running"))
            elif name.endswith((".partial.npy", ".partial.json")):
                key = name.split(".partial.")[0]
                if lock_is_free(path.with_name(f"{key}.lock")):
                    found.append(Leftover(path, "unfinished audio cache entry (the run that started it "
                                                "resumes it; no process is building it)"))
            elif name.endswith(".npy") and not readable_npy(path):
                found.append(Leftover(path, "damaged cache entry (cut short or garbled): rebuilt when next "
                                            "needed, or removed by --delete"))
            elif name.endswith(".lock.json"):
                owner = read_json(path)
                if not pid_alive(owner.get("pid", -1)) and lock_is_free(lock_of_owner_record(path)):
                    found.append(Leftover(path, f"owner record of pid {owner.get('pid')}, no longer running"))
    return found


def worker_scratch_leftovers(temporary_root: Path | None = None) -> list[Leftover]:
    """Multi-worker scratch folders (``kasc-worker<i>-pid<pid>-*``) of ended processes: judged
    by the lock each worker holds in its folder for its lifetime, not by the process id (which
    another job, or another machine sharing the folder, may be using)."""
    root = Path(temporary_root or tempfile.gettempdir())
    found = []
    for path in sorted(root.glob("kasc-worker*")):
        match = WORKER_FOLDER_PATTERN.match(path.name)
        if not (path.is_dir() and match):
            continue
        lock = path / LOCK_FILE  # held by the worker while it lives (kasc.training.distribute.worker_folder)
        if lock.exists() and lock_is_free(lock):
            found.append(Leftover(path, f"temporary folder of multi-worker process {match.group(2)}, whose lock "
                                        f"is free (the process ended)"))
        elif not lock.exists() and not pid_alive(int(match.group(2))):  # a folder of a kasc without the lock
            found.append(Leftover(path, f"temporary folder of multi-worker process {match.group(2)}, no longer "
                                        f"running"))
    return found
