"""One process at a time: exclusive locks on run folders and cache entries.

A lock is an OS file lock (``filelock``: ``fcntl.flock`` on POSIX, ``msvcrt`` on
Windows) on ``<name>.lock``, so it is released by the OS when its process ends, even by
SIGKILL: a lock can never stay stale. Beside it, ``<name>.lock.json`` records the owner
(pid, host, start time, command line) so that a refused or waiting process can say who
holds it. An owner record left by a process that died without releasing (killed) is
reported as stale and replaced when the lock is next taken.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

import filelock

from kasc.files.atomic import TEMPORARY_PATTERN, read_json, write_json


class LockBusy(RuntimeError):
    """Another process holds the lock. The message names it (pid, command, since when)."""


def _owner_record() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join([Path(sys.executable).name] + sys.orig_argv[1:])[:300]}


def _describe(owner: dict) -> str:
    if not owner:
        return "another process"
    return f"pid {owner.get('pid')} on {owner.get('host')} (since {owner.get('since')}: {owner.get('command')})"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid runs on this machine (always True on Windows, where
    ``os.kill`` would end the process: nothing is then treated as stale)."""
    if os.name == "nt":
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OSError, ValueError, TypeError):
        return False
    return True


OWNER_RECORD_SUFFIX = ".json"


def owner_record(lock_file: Path) -> Path:
    """The owner record beside a lock: ``<name>.lock.json``."""
    return lock_file.with_name(lock_file.name + OWNER_RECORD_SUFFIX)


def lock_of_owner_record(record: Path) -> Path:
    """The lock an owner record (``<name>.lock.json``) belongs to: ``<name>.lock``."""
    return record.with_name(record.name.removesuffix(OWNER_RECORD_SUFFIX))


def lock_is_free(lock_file: Path) -> bool:
    """True if no process holds ``lock_file`` (or it does not exist)."""
    if not lock_file.exists():
        return True
    lock = filelock.FileLock(str(lock_file), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return False
    lock.release()
    return True


def hold_for_process(lock_file: Path) -> filelock.FileLock:
    """Take ``lock_file`` and hold it until this process ends (the OS releases it then, even
    after a kill): marks a folder as in use for :func:`lock_is_free`."""
    lock = filelock.FileLock(str(lock_file), thread_local=False)
    lock.acquire(timeout=0)
    return lock


def orphaned_temporary(path: Path) -> bool:
    """True for a temporary file of ``kasc.files.atomic`` (``*.tmp<pid>.*``) whose process has ended."""
    match = TEMPORARY_PATTERN.search(path.name)
    return bool(match) and path.is_file() and not pid_alive(int(match.group(1)))


@contextlib.contextmanager
def exclusive(lock_file: str | Path, what: str, wait: bool = False, say=None):
    """Hold the lock ``lock_file`` for the duration of the block.

    Args:
      lock_file: the lock's path (``.../name.lock``); its folder is created.
      what: what the lock protects, for messages ("run folder saved_models/x").
      wait: block until the holder ends (True), or refuse at once (False).
      say: callable for one-line notes (waiting, stale owner replaced); default stderr.

    Raises:
      LockBusy: ``wait`` is False and another process holds the lock.
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    owner_file = owner_record(lock_file)
    say = say or (lambda message: print(f"kasc: {message}", file=sys.stderr, flush=True))
    lock = filelock.FileLock(str(lock_file), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        owner = read_json(owner_file)
        if not wait:
            raise LockBusy(f"{what} is in use by {_describe(owner)}; wait for it to finish, or use another "
                           f"folder") from None
        say(f"waiting for {_describe(owner)}, which is using {what}")
        lock.acquire()
    try:
        stale = read_json(owner_file)
        if stale and stale.get("host") == socket.gethostname() and not pid_alive(stale.get("pid", -1)):
            say(f"{what}: pid {stale.get('pid')} ended without releasing it (killed?); taking over")
        write_json(owner_file, _owner_record())
        yield
    finally:
        owner_file.unlink(missing_ok=True)
        lock.release()
