"""Ctrl-C and SIGTERM as one clean stop: ``with interruptible(): ...`` turns both into
:class:`Interrupted`, which a command's ``main`` reports in one line (what was kept, how to
go on) and exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as
shells expect, instead of a traceback (SIGINT) or nothing at all (SIGTERM's default)."""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading

from kasc.files.atomic import DiskFullError, is_disk_full

ATOMIC_NOTE = "every file kasc writes is replaced atomically, so each is complete or as it was"
"""What a stopped command can promise of its files."""


class Interrupted(Exception):
    """The process was asked to stop (SIGINT or SIGTERM).

    ``stopped_in``: (run folder, its epochs) of the innermost run that was training when the
    stop came, where :func:`stops_named` knew it (a teacher trained inside a student's run
    names itself); None otherwise."""

    def __init__(self, signum: int, stopped_in: tuple | None = None):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
        self.stopped_in = stopped_in

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return "Ctrl-C (SIGINT)" if self.signum == signal.SIGINT else signal.Signals(self.signum).name


@contextlib.contextmanager
def interruptible():
    """Within the block, SIGTERM raises :class:`Interrupted` (in the main thread) and a
    ``KeyboardInterrupt`` leaves it as ``Interrupted(SIGINT)``; the SIGTERM handler is
    restored afterwards. Outside the main thread the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, _frame):
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt as err:
        raise Interrupted(signal.SIGINT, getattr(err, "stopped_in", None)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def stops_named(run, epochs: int):
    """A stop (:class:`Interrupted`, or ``KeyboardInterrupt`` before :func:`interruptible`
    turns it into one) that leaves the block carries ``stopped_in = (run, epochs)``, unless a
    block inside named its own run first: the stop message then reports the checkpoint of the
    run that was training (a teacher's, when the stop came while a teacher trained)."""
    try:
        yield
    except (Interrupted, KeyboardInterrupt) as err:
        if getattr(err, "stopped_in", None) is None:
            err.stopped_in = (run, int(epochs))
        raise


@contextlib.contextmanager
def stops_held():
    """Within the block, SIGINT and SIGTERM are held; when it ends, the first one that came is
    raised again, so the handlers in place before act on it as they would have.

    For short writes that a signal must not cut in the middle of a library call: Keras saving a
    checkpoint converts variables through NumPy, and a ``KeyboardInterrupt`` raised inside that
    conversion came out as an unrelated ``TypeError`` (a traceback, exit status 1, instead of the
    one-line stop). Outside the main thread, or when a handler was set from C (Python cannot put
    it back), the block runs as it is."""
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in held}
    if threading.current_thread() is not threading.main_thread() or None in previous.values():
        yield
        return
    came: list[int] = []

    def hold(signum, _frame):
        came.append(signum)

    for signum in held:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if came:
        signal.raise_signal(came[0])


def one_line_stops(kept: str = ATOMIC_NOTE):
    """Decorator for a command's ``main``: Ctrl-C or SIGTERM anywhere in it ends it with one
    line, ``interrupted by Ctrl-C (SIGINT): <kept>``, and exit status 128 + the signal; a full
    disk with one line naming the file and exit status 2; never a traceback."""
    def wrap(main):
        @functools.wraps(main)
        def guarded(*args, **kwargs):
            try:
                with interruptible():
                    return main(*args, **kwargs)
            except Interrupted as err:
                print(f"interrupted by {err.name}: {kept}", file=sys.stderr)
                return err.exit_code
            except (OSError, RuntimeError) as err:  # h5py reports a full disk as a RuntimeError
                if not is_disk_full(err):
                    raise
                where = (str(err) if isinstance(err, DiskFullError)
                         else f"no space left on device writing {getattr(err, 'filename', None) or 'a file'}")
                print(f"error: {where}; {kept}", file=sys.stderr)
                return 2
        return guarded
    return wrap
