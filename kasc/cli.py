"""The ``kasc`` console script: ``kasc COMMAND ARGS...`` runs ``python -m kasc.COMMAND ARGS...``
(``kasc train submission3 --profile fast``, ``kasc predict RUN FOLDER``); ``kasc --version``."""

from __future__ import annotations

import importlib
import sys

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


def usage() -> str:
    from kasc import __version__

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
        from kasc import __version__

        print(f"kasc {__version__}")
        return 0
    name = argv[0].replace("_", "-")
    if name not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    import inspect

    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"kasc {name}", *argv[1:]]  # for commands that read sys.argv themselves
    takes_argv = bool(inspect.signature(module.main).parameters)
    return int((module.main(argv[1:]) if takes_argv else module.main()) or 0)


if __name__ == "__main__":
    sys.exit(main())
