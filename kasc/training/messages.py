"""How training speaks: its one-line stage summaries and the error that stops it."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """Training cannot go on (diverged, a teacher does not fit the data, ...)."""


def say(message: str) -> None:
    """A one-line stage summary."""
    print(f"[kasc.train] {message}", flush=True)
