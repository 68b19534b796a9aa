"""Compare finished runs: ``python -m kasc.compare RUN_DIR... [--teachers RUN_DIR]``.

Prints a markdown table, one row per run, from each run's ``metrics.json``: validation
accuracy, class-macro accuracy, log loss, int8 accuracy (runs that exported), epochs,
training time and parameters. ``--teachers`` adds the teacher ensemble row of a
distilled run (its ``teachers.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cell(value, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def run_row(run: Path) -> list[str]:
    """Table cells of one run folder."""
    metrics = json.loads((run / "metrics.json").read_text())
    int8 = metrics.get("int8", {}).get("accuracy")
    minutes = metrics.get("train_seconds")
    return [run.name, _cell(metrics.get("accuracy")), _cell(metrics.get("macro_class_accuracy")),
            _cell(metrics.get("log_loss")), _cell(int8), str(metrics.get("epochs", "-")),
            _cell(minutes / 60 if minutes is not None else None, "{:.0f} min")]


def ensemble_row(run: Path) -> list[str]:
    """The ensemble row of a distilled run's ``teachers.json``."""
    ensemble = json.loads((run / "teachers.json").read_text())["ensemble"]
    return [f"ensemble of the teachers of {run.name}", _cell(ensemble["accuracy"]),
            _cell(ensemble["macro_class_accuracy"]), _cell(ensemble["log_loss"]), "-", "-", "-"]


HEADER = ["run", "accuracy", "class-macro accuracy", "log loss", "int8 accuracy", "epochs", "training time"]


def markdown(rows: list[list[str]]) -> str:
    """A markdown table with the standard header."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kasc.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run folders with metrics.json")
    parser.add_argument("--teachers", type=Path, action="append", default=[],
                        help="a distilled run whose teacher ensemble gets a row")
    args = parser.parse_args(argv)
    rows = []
    try:
        for run in args.runs:
            rows.append(run_row(run))
        for run in args.teachers:
            rows.append(ensemble_row(run))
    except (OSError, KeyError, json.JSONDecodeError) as err:
        print(f"error: {err} (is every folder a finished run?)", file=sys.stderr)
        return 2
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
