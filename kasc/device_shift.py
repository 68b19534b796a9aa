"""Accuracy on unseen devices: ``python -m kasc.device_shift RUN_DIR... [--dirs FOLDER] [--output table.md]``.

TAU22 evaluates on devices s4-s6 that training never heard. Data without such devices
(UrbanSound8K here) can imitate them: each validation clip is convolved with one
microphone impulse response from the ``held_out_half`` of a folder
(``kasc.data.impulse_responses``; DIR augmentation only ever uses the other half), the
response drawn once per clip with a fixed seed, so every run is tested on the same
shifted copy. This is the nearest thing to unseen devices the data allows; it is not
TAU22's s4-s6.

For each run: accuracy and log loss of its ``model.keras`` on the clean validation split
and on the shifted copy, printed as a Markdown table, written to ``--output`` if given,
and stored in the run folder as ``device_shift.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kasc.cli import describe, prog
from kasc.config import ConfigError, resolve_path
from kasc.files.atomic import write_text
from kasc.files.interrupts import one_line_stops
from kasc.files.runs import RunDir


DEFAULT_DIRS = "../shared/data/dirs"
"""The measured microphone impulse responses beside a clone (``--dirs``)."""


@one_line_stops("the results are written at the end, so nothing was written")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.device_shift"), description=describe(__doc__))
    parser.add_argument("runs", type=Path, nargs="+", help="finished run folders")
    parser.add_argument("--dirs", type=Path, default=Path(DEFAULT_DIRS), help="impulse-response folder")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)

    # TensorFlow loads here, once the arguments are read: --help and argument errors answer at once
    from kasc.evaluation.unseen_devices import evaluate_shift, markdown_table

    dirs = resolve_path(str(args.dirs))
    results = {}
    try:
        for path in args.runs:
            run = RunDir(path)
            if not run.is_finished():
                raise FileNotFoundError(f"{path} is not a finished run folder (model.keras and a finished metrics.json)")
            results[path.name] = evaluate_shift(run, dirs)
            print(f"{path.name}: clean {results[path.name]['clean']['accuracy']:.3f}, unseen devices "
                  f"{results[path.name]['unseen_devices']['accuracy']:.3f}", file=sys.stderr, flush=True)
    except (ConfigError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = markdown_table(results)
    print(table)
    if args.output:  # a page of its own: a title, what was measured, the table
        write_text(args.output, f"# Accuracy on unseen devices\n\n`python -m kasc.device_shift` on "
                                f"{', '.join(str(r) for r in args.runs)} (impulse responses: {args.dirs}).\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
