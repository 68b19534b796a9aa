"""Ctrl-C and SIGTERM as one clean stop: ``with interruptible(): ...`` turns both into
:class:`Interrupted`, which a command's ``main`` reports in one line (what was kept, how to
go on) and exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as
shells expect, instead of a traceback (SIGINT) or nothing at all (SIGTERM's default)."""

from __future__ import annotations

import contextlib
import signal
import threading


class Interrupted(Exception):
    """The process was asked to stop (SIGINT or SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

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
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT) from None
    finally:
        signal.signal(signal.SIGTERM, previous)

