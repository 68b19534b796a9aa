"""Compare finished runs: ``python -m kasc.compare RUN_DIR... [--teachers RUN_DIR] [--paired-with NAME]``.

Prints a markdown table, one row per run, from each run's ``metrics.json``: validation
accuracy, class-macro accuracy, log loss, int8 accuracy (runs that exported), epochs,
training time and parameters. ``--teachers`` adds the teacher ensemble row of a
distilled run (its ``teachers.json``).

Runs of one config repeated with other seeds (folders ``NAME_seed<N>`` beside ``NAME``,
as ``experiments/us8k.sh`` writes them) become one row, ``NAME (k seeds)``, each figure
the mean ± sample standard deviation over the seeds.

``--cv`` reads the runs as a cross-validation instead (``experiments/cv.sh``): runs are
grouped by the config name, training and validation split and seed of their
``config.yaml``; one row per config, for each direction (``fold 1→2``: trained on split 1,
validated on split 2) the accuracy, log loss and top-1 agreement with the teacher ensemble
of that direction (mean ± sd over seeds), then the mean over the directions. A distilled
run keeps its teachers' validation predictions (``teachers_valid.csv``); their ensemble
gets a row of its own, and every run of the same direction, plain ones included, is
compared with it. With ``--paired-with NAME`` the second table gives each row's gain over
row NAME per direction, paired by seed.

``--paired-with NAME`` adds a second table: each other row's gain over the row ``NAME``
(one of the runs given, e.g. the plain student), seed by seed. Runs are paired by the
``train.seed`` of their ``config.yaml``, so a pair shares initial weights' seed, clip
order and augmentation draws; the gain is the mean ± sample standard deviation of the
per-seed differences, with the two-sided p-value of a paired t-test (scipy) where there
are at least 2 pairs. With 3 seeds only a large, consistent gain gets a small p.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kasc.cli import describe, prog
from kasc.evaluation.comparison import (cv_summary, ensemble_row, group_seeds, markdown, paired_table, quote_into,
                                        run_row, seeds_row)
from kasc.files.interrupts import ATOMIC_NOTE, one_line_stops
from kasc.files.runs import RunDir


@one_line_stops(ATOMIC_NOTE)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.compare"), description=describe(__doc__))
    parser.add_argument("runs", type=Path, nargs="+", help="run folders with metrics.json")
    parser.add_argument("--teachers", type=Path, action="append", default=[],
                        help="a distilled run whose teacher ensemble gets a row")
    parser.add_argument("--paired-with", metavar="NAME", default="",
                        help="also print every row's gain over row NAME, paired by seed")
    parser.add_argument("--cv", action="store_true",
                        help="cross-validation: group runs by config, direction (training -> validation split) "
                             "and seed; both directions and their mean")
    parser.add_argument("--quote-into", metavar="RUN_DIR", type=Path,
                        help="with --cv: also write the figures into RUN_DIR/metrics.json as cross_validation "
                             "(a final model trained on every clip quotes the recipe's cross-validation)")
    args = parser.parse_args(argv)
    if args.quote_into and not args.cv:
        parser.error("--quote-into needs --cv")
    if args.cv:
        try:
            summary = cv_summary(args.runs, args.paired_with)
            if args.quote_into:
                quote_into(args.quote_into, summary)
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
            print(f"error: {err} (is every folder a finished run?)", file=sys.stderr)
            return 2
        print(summary["tables"])
        if args.quote_into:
            print(f"\nwritten into {RunDir(args.quote_into).metrics_file} (cross_validation)")
        return 0
    rows = []
    groups = group_seeds(args.runs)
    try:
        for name, runs in groups:
            rows.append(run_row(runs[0]) if len(runs) == 1 else seeds_row(name, runs))
        for run in args.teachers:
            rows.append(ensemble_row(run))
        paired = paired_table(groups, args.paired_with) if args.paired_with else ""
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
        print(f"error: {err} (is every folder a finished run?)", file=sys.stderr)
        return 2
    print(markdown(rows))
    if paired:
        print()
        print(paired)
    return 0


if __name__ == "__main__":
    sys.exit(main())
