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
from pathlib import Path

from kasc.cli import describe, prog
from kasc.config import DataConfig, project_root, resolve_path
from kasc.files.leftovers import find_leftovers, worker_scratch_leftovers


def default_folders() -> list[Path]:
    """The default cache root (``DataConfig.cache_dir``'s parent), the clone's
    ``saved_models/`` and the current directory's (where runs land by default)."""
    return list(dict.fromkeys([resolve_path(DataConfig.cache_dir).parent, project_root() / "saved_models",
                               (Path.cwd() / "saved_models").resolve()]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.clean"), description=describe(__doc__))
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
