"""List or remove files that killed or failed runs left behind: ``python -m kasc.clean [--delete]``.

Looks in the caches (``.cache/``: audio, log-mel, soft targets) and the run folders
(``saved_models/``), or in the folders given, for

- unfinished audio cache entries (``<key>.partial.npy`` and ``.partial.json``) that no
  process is building: a run killed while caching resumes them, so they are only
  removed on request;
- temporary files of atomic writes (``*.tmp<pid>.*``) whose process has ended;
- lock owner records (``*.lock.json``) of processes that have ended;
- damaged cache entries (``.npy`` files cut short or garbled), which the next run that
  needs them rebuilds;
- by default also the temporary folders of multi-worker runs' other workers
  (``<tmp>/kasc-worker<i>-pid<pid>-*``, ``kasc.training.distribute.worker_folder``) whose process
  was killed before it could delete its folder.

Prints one line per file with its size and why it is there; ``--delete`` removes them.
Files in use by a running process are never listed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from kasc.files.atomic import TEMPORARY_PATTERN, read_json
from kasc.files.locks import lock_is_free, lock_of_owner_record, orphaned_temporary, pid_alive


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
            import shutil

            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.path.unlink(missing_ok=True)


def readable_npy(path: Path) -> bool:
    """Whether a ``.npy`` file's header and size agree (a cut-short or garbled cache entry does not)."""
    import numpy as np

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
    """Multi-worker scratch folders (``kasc-worker<i>-pid<pid>-*``) of ended processes."""
    import tempfile

    from kasc.training.distribute import WORKER_FOLDER_PATTERN

    root = Path(temporary_root or tempfile.gettempdir())
    found = []
    for path in sorted(root.glob("kasc-worker*")):
        match = WORKER_FOLDER_PATTERN.match(path.name)
        if path.is_dir() and match and not pid_alive(int(match.group(2))):
            found.append(Leftover(path, f"temporary folder of multi-worker process {match.group(2)}, no longer running"))
    return found


def default_folders() -> list[Path]:
    """The default cache root (``DataConfig.cache_dir``'s parent), the clone's
    ``saved_models/`` and the current directory's (where runs land by default)."""
    from kasc.config import DataConfig, project_root, resolve_path

    return list(dict.fromkeys([resolve_path(DataConfig.cache_dir).parent, project_root() / "saved_models",
                               (Path.cwd() / "saved_models").resolve()]))


def main(argv: list[str] | None = None) -> int:
    from kasc.cli import describe

    parser = argparse.ArgumentParser(prog="python -m kasc.clean", description=describe(__doc__))
    parser.add_argument("folders", nargs="*", type=Path, help="folders to search (default: .cache and saved_models)")
    parser.add_argument("--delete", action="store_true", help="remove what is listed")
    args = parser.parse_args(argv)
    folders = args.folders or default_folders()
    leftovers = find_leftovers(folders) + ([] if args.folders else worker_scratch_leftovers())
    total = 0
    for item in leftovers:
        size = item.size_bytes
        total += size
        if args.delete:
            item.remove()
        print(f"{'removed' if args.delete else 'leftover'}\t{size / 1e6:.2f} MB\t{item.path}\t{item.reason}")
    searched = ", ".join(map(str, folders))
    if not leftovers:
        print(f"nothing left behind in {searched}")
    elif not args.delete:
        print(f"{len(leftovers)} file(s), {total / 1e6:.2f} MB in {searched}; --delete removes them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
