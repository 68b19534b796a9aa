"""The ``kasc`` console script: ``kasc COMMAND ARGS...`` runs ``python -m kasc.COMMAND ARGS...``
(``kasc train submission3 --profile fast``, ``kasc predict RUN FOLDER``); ``kasc --version``."""

from __future__ import annotations

import importlib
import inspect
import sys
import time

from kasc import __version__

COMMANDS = {
    "train": ("kasc.train", "train a named config (teachers first), evaluate, export, audit"),
    "evaluate": ("kasc.evaluate", "evaluate a finished run on its validation split"),
    "predict": ("kasc.predict", "label audio files or folders"),
    "compare": ("kasc.compare", "a table of finished runs (--cv: cross-validation)"),
    "complexity": ("kasc.complexity.__main__", "parameter bytes, MACs and the DCASE 2023 verdict of a model file"),
    "export": ("kasc.export", "float32 and int8 TFLite files of a run"),
    "qat": ("kasc.qat", "quantization-aware fine-tuning of a finished student"),
    "device-shift": ("kasc.device_shift", "accuracy on microphones training never heard"),
    "data": ("kasc.data.__main__", "describe a config's data and draw log-mel spectrograms"),
    "config": ("kasc.config.show", "print a config's extends chain and its resolved settings"),
    "clean": ("kasc.clean", "list or remove what killed runs left behind"),
    "serfr-table": ("kasc.complexity.layer_table", "print the SERFR-CNN layer table"),
}


def describe(doc: str) -> str:
    """A module docstring's first paragraph as ``--help`` text: without the reST double
    backquotes of code (``x`` -> x)."""
    return doc.split("\n\n")[0].replace("``", "")




def prog(module: str) -> str:
    """A command's name in its usage line, as the user typed it: ``kasc train`` from the
    console script (which sets ``sys.argv[0]``), else ``python -m kasc.train``."""
    typed = sys.argv[0] if sys.argv else ""
    return typed if typed.startswith("kasc ") else f"python -m {module}"


def progress_bar(iterable=None, *, desc: str, unit: str, total: int | None = None, initial: int = 0,
                 enabled: bool = True, leave: bool = True):
    """A progress bar on stderr where stderr is a terminal (tqdm); where it is a file or a pipe
    (a log), no bar frames (``\\r`` redraws) but one line when the stage ends
    (``caching train: 873 clips in 12.3 s``). Used as tqdm: iterate it, or ``update`` and
    ``close`` it."""
    if not enabled:
        from tqdm import tqdm  # tqdm loads only where it draws

        return tqdm(iterable, disable=True)
    if sys.stderr.isatty():
        from tqdm import tqdm  # as above

        return tqdm(iterable, desc=desc, unit=unit, total=total, initial=initial, leave=leave, file=sys.stderr,
                    mininterval=1.0)
    return StageLine(iterable, desc, unit, initial)


class StageLine:
    """:func:`progress_bar` in a log: counts, and prints one line when closed or exhausted."""

    def __init__(self, iterable, desc: str, unit: str, initial: int = 0):
        self.iterable, self.desc, self.unit, self.n = iterable, desc, unit, initial
        self.started, self.closed = time.monotonic(), False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.n += 1
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            plural = "es" if self.unit.endswith(("s", "ch", "sh", "x")) else "s"
            units = self.unit if self.n == 1 else self.unit + plural
            print(f"{self.desc}: {self.n} {units} in {time.monotonic() - self.started:.1f} s", file=sys.stderr,
                  flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"kasc {__version__}: low-complexity acoustic scene classification", "",
             "usage: kasc COMMAND [ARGS...]   (kasc COMMAND --help for a command's options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"kasc {__version__}")
        return 0
    name = argv[0].replace("_", "-")
    if name not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"kasc {name}", *argv[1:]]  # for commands that read sys.argv themselves
    takes_argv = bool(inspect.signature(module.main).parameters)
    return int((module.main(argv[1:]) if takes_argv else module.main()) or 0)


if __name__ == "__main__":
    sys.exit(main())
