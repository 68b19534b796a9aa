"""Evaluate a run as DCASE does: ``python -m kasc.evaluate RUN_DIR [--no-int8]``.

For the run's validation split: accuracy, class-macro accuracy (DCASE's ranking metric),
multi-class log loss (scikit-learn), accuracy and log loss per device (TAU22: seen and
unseen devices apart), per-class accuracy and the confusion matrix, for the Keras model
and, where the run exported one, the int8 TFLite model (the int8 drop is printed).
Writes ``metrics.json`` (the Keras figures at the top level, int8 under ``"int8"``),
``confusion.png`` and the DCASE output file ``predictions_valid.csv``. Every training run
ends with this evaluation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kasc.cli import describe, prog
from kasc.config import ConfigError, load_config
from kasc.files.interrupts import one_line_stops
from kasc.files.locks import LockBusy
from kasc.files.runs import RunDir
from kasc.training.runtime import quiet_expected_retracing


@one_line_stops("the run's results are written at the end, atomically, so they are as they were")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.evaluate"), description=describe(__doc__))
    parser.add_argument("run", type=Path, help="a run folder (model.keras + config.yaml)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 TFLite model")
    args = parser.parse_args(argv)

    # TensorFlow loads here, once the arguments are read: --help and argument errors answer at once
    from kasc.evaluation.run_evaluation import evaluate_run

    quiet_expected_retracing()
    run = RunDir(args.run)
    if not run.model_file.is_file() or not run.config_file.is_file():
        print(f"error: {args.run} is not a finished run folder (needs model.keras and config.yaml)", file=sys.stderr)
        return 2

    try:
        cfg = load_config(run.config_file)
        with run.owned():  # it rewrites metrics.json: not while a training run works there
            evaluate_run(run, cfg, int8=not args.no_int8)
    except (ConfigError, ValueError, OSError, LockBusy) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"written: {run.metrics_file}, {run.confusion_file}, {run.predictions_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
