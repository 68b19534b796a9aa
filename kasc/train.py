"""Train a named experiment: ``python -m kasc.train NAME [--profile fast] [--set KEY=VALUE]``.

A run trains the teachers it names first (or reuses their finished runs), distils or
trains its network, evaluates it on the validation split, exports and audits it, and
leaves everything in ``saved_models/<NAME>`` (``saved_models/<NAME>-<profile>`` with a
profile; see ``kasc.files.runs`` for the files). Running the same command again resumes an
interrupted run from its last finished epoch, or reports that it has finished.

Examples:
  python -m kasc.train submission3 --profile fast     # minutes, on the shared mini set
  python -m kasc.train submission3                    # the report's run (800 epochs)
  python -m kasc.train plain_student --set train.epochs=50 --run-dir saved_models/try1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kasc.cli import describe, prog
from kasc.config import ConfigError, load_config, known_configs
from kasc.config.syntax import config_folder
from kasc.data.preflight import check_paths
from kasc.files.atomic import DiskFullError, is_disk_full
from kasc.files.interrupts import Interrupted, interruptible
from kasc.files.locks import LockBusy
from kasc.files.runs import CorruptCheckpoint, RunConfigMismatch, RunDir, default_run_dir
from kasc.training.distribute import STRATEGIES, StrategyError, split_cpu, make_strategy, lost_a_worker
from kasc.training.messages import TrainingError
from kasc.training.runtime import quiet_expected_retracing, set_cpu_threads

__all__ = ["TrainingError", "main", "train"]  # the Python API: train(cfg, RunDir(...)); the phases live in kasc.training


def __getattr__(name: str):
    """``kasc.train.train``, the Python API, loaded on first use (it loads TensorFlow; the
    command's --help and argument errors do not)."""
    if name == "train":
        from kasc.training.run import train  # TensorFlow: see the docstring

        return train
    raise AttributeError(f"module 'kasc.train' has no attribute {name!r}")


def configs_by_folder() -> str:
    """kasc's configs, one line per folder of ``configs/`` (for ``--help``)."""
    folders: dict[str, list[str]] = {}
    for name, paths in known_configs().items():
        for path in paths:
            folders.setdefault(config_folder(path), []).append(name)
    return "Configs: " + "; ".join(f"{folder}: {', '.join(sorted(names))}" for folder, names in sorted(folders.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.train"), description=describe(__doc__),
                                     epilog=configs_by_folder())
    parser.add_argument("config", help="config name (a file of configs/, by its name or its path there, e.g. "
                                       "submission3 or report/submission3) or a YAML path")
    parser.add_argument("--profile", default=None, help="a profile of the config (e.g. 'fast')")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--run-dir", type=Path, default=None, help="output folder (default saved_models/NAME[-PROFILE])")
    parser.add_argument("--restart", action="store_true", help="discard an existing checkpoint and train from scratch")
    parser.add_argument("--verbose", type=int, default=None, help="Keras verbosity: 1 progress bar, 2 one line per epoch")
    parser.add_argument("--strategy", choices=STRATEGIES, default=None,
                        help="tf.distribute strategy (train.strategy); mirrored: every local GPU, or train.devices; "
                             "multi_worker: the processes of TF_CONFIG (start the command once per worker)")
    parser.add_argument("--split-cpu", type=int, default=0, metavar="N",
                        help="make N logical CPU devices /cpu:0../cpu:N-1 (try mirrored training without a GPU)")
    args = parser.parse_args(argv)

    # TensorFlow loads here, once the arguments are read: --help and argument errors answer at once
    from kasc.training.run import train
    if args.strategy:
        args.overrides = [*args.overrides, f"train.strategy={args.strategy}"]
    if args.split_cpu > 1:
        split_cpu(args.split_cpu)
    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    try:
        cfg = load_config(args.config, args.overrides, args.profile)  # every value checked (kasc.config.validate)
        check_paths(cfg, str(args.config))
        run = RunDir(args.run_dir or default_run_dir(cfg, args.profile))
        set_cpu_threads(cfg.train.intra_op_threads, cfg.train.inter_op_threads)
        quiet_expected_retracing()
        if cfg.train.strategy == "multi_worker":  # before TensorFlow starts its runtime
            make_strategy(cfg.train.strategy, cfg.train.devices)
        with interruptible():
            train(cfg, run, profile=args.profile, restart=args.restart, verbose=verbose)
    except Interrupted as err:
        try:
            stopped, epochs = err.stopped_in or (run, cfg.train.epochs)
            kept = f"the checkpoint of {stopped.path} keeps epoch {stopped.state().get('epoch', 0)} of {epochs}"
            if stopped.path != run.path:  # a teacher was training
                kept += f" (a teacher of {run.path}, whose checkpoint keeps epoch {run.state().get('epoch', 0)})"
        except (CorruptCheckpoint, NameError):  # stopped before the run folder was known
            kept = "finished epochs are kept in their checkpoints"
        print(f"interrupted by {err.name}: {kept}; run the same command again to resume", file=sys.stderr)
        return err.exit_code
    except (ConfigError, RunConfigMismatch, CorruptCheckpoint, TrainingError, LockBusy, DiskFullError,
            StrategyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as err:  # data errors name their file (DatasetError, AudioReadError)
        if not is_disk_full(err):
            if isinstance(err, RuntimeError):
                raise
            print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
            return 2
        where = getattr(err, "filename", None) or "a file"
        print(f"error: no space left on device writing {where}; the last checkpoint is intact: free some "
              f"space, then run the same command again to resume", file=sys.stderr)
        return 2
    except Exception as err:
        if not lost_a_worker(err):
            raise
        unhealthy = [line.strip() for line in str(err).splitlines() if line.strip().startswith("/job:")]
        state = run.state()
        print(f"error: the multi-worker run lost a worker ({type(err).__name__}"
              + (f"; stopped: {', '.join(sorted(set(unhealthy)))}" if unhealthy else "")
              + f"); the checkpoint keeps epoch {state.get('epoch', 0)}: start every worker again to resume",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
