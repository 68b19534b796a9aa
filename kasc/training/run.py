"""A run from its config to its results: :func:`train` holds the run folder and runs the
phases (``kasc.training.inputs``, ``kasc.training.teachers``, ``fitting``, ``finishing``);
teachers are runs of their own, trained (or reused) by this same :func:`train`."""

from __future__ import annotations

import contextlib
import time

import keras

from kasc.config import ExperimentConfig
from kasc.data.normalization import with_measured_normalization
from kasc.data.survey import data_notes, survey_split, with_clip_length
from kasc.files.interrupts import stops_named
from kasc.files.runs import RunDir
from kasc.training.distribute import agreed, make_strategy, worker_folder, worker_role
from kasc.training.finishing import finish, quantization_aware_training
from kasc.training.fitting import build_distiller, fit_or_resume
from kasc.training.inputs import prepare_data
from kasc.training.messages import say
from kasc.training.network import dtype_policy
from kasc.training.teachers.teaching import teach


def train(cfg: ExperimentConfig, run: RunDir, profile: str | None = None, restart: bool = False,
          verbose: int = 1, wait_for_folder: bool = False,
          finished_hint: str = "--restart trains it again", notes: bool = True) -> dict:
    """Train ``cfg`` into ``run`` (resuming if possible); return the metrics written.

    ``notes``: print one note per surprise in the training files (``kasc.data.survey``);
    teachers on their student's data leave them to the student.

    A run already finished is kept and its metrics returned; ``finished_hint`` ends the
    message that says so (how to train it again).

    The run folder is held by this process throughout (``RunDir.owned``): another
    process working there makes this one stop at once (``kasc.files.locks.LockBusy``), or
    wait with ``wait_for_folder``. The phases, each in a module of kasc.training: data, teachers,
    soft targets, distiller, fit (or resume), finish, QAT; the distiller (and online
    teachers) are built in the scope of ``train.strategy``. Under ``multi_worker``,
    only the chief holds and writes ``run``; the other workers work on copies of it
    (``kasc.training.distribute``) and return the chief's metrics.
    """
    strategy = make_strategy(cfg.train.strategy, cfg.train.devices)
    role = worker_role(cfg.train.strategy)
    chief_run = run
    with (stops_named(chief_run, cfg.train.epochs),
          left_clean_if_refused(run) if role.is_chief and not run.path.exists() else contextlib.nullcontext(),
          run.owned(wait=wait_for_folder, say=say) if role.is_chief else contextlib.nullcontext()):
        # headers only, and only where they are used: the clip length, or the notes this run prints
        wants_notes = notes and role.is_chief and verbose > 0
        survey = survey_split(cfg.data) if cfg.data.clip_length == "median" or wants_notes else None
        cfg = with_clip_length(cfg, survey) if survey is not None else cfg
        # every run that asks, teachers and the Python API included; a run resumed or reused
        # keeps the constants measured when it started (its config.yaml)
        stored = (chief_run.stored_normalization(cfg) if cfg.features.measure_normalization and not restart
                  else None)
        cfg = with_measured_normalization(cfg, progress=verbose > 0, measured=stored)
        if role.is_chief:
            run.start(cfg, restart=restart)
        agreed(strategy, 0, "the start of the run")  # barrier: the chief's folder is ready
        if not role.is_chief:
            run = chief_run.copy_into(worker_folder(role, chief_run.path.name))
            say(f"worker {role.index} of {role.count}: {chief_run.path} copied to {run.path}")
        if run.is_finished():
            metrics = run.metrics()
            say(f"{cfg.name}: already finished in {chief_run.path} (accuracy {metrics['accuracy']:.3f}); "
                f"{finished_hint}")
        else:
            started = time.monotonic()
            keras.utils.set_random_seed(cfg.train.seed)
            data = prepare_data(cfg, verbose)
            if cfg.features.measure_normalization and role.is_chief:  # said once the data is known to be usable
                say(f"{cfg.name}: log-mel normalisation "
                    + ("measured on the training clips" if stored is None else "as measured when the run started")
                    + f": mean {cfg.features.normalize_mean:g}, std {cfg.features.normalize_std:g} "
                      f"({'written to' if stored is None else 'kept in'} {run.config_file})")
            if role.is_chief and verbose > 0:
                if cfg.data.clip_length == "median":
                    say(f"{cfg.name}: clip length {cfg.data.clip_seconds:g} s, from the training files' median "
                        f"duration {survey.median_seconds:.2f} s (data.clip_length median; written to {run.config_file})")
                for note in data_notes(cfg.data, cfg.augment, survey) if wants_notes else ():
                    say(f"{cfg.name}: note: {note}")
            teaching = teach(cfg, run, chief_run, data, profile, verbose, strategy, train_run=train)
            cfg, targets = teaching.cfg, teaching.targets  # the teachers that passed the check
            # seeded after the soft targets: loading a teacher draws random initial values, and
            # whether a process loads one depends on whether the cache entry existed
            keras.utils.set_random_seed(cfg.train.seed)
            with strategy.scope(), dtype_policy(cfg.train.mixed_precision):  # kasc.training.distribute
                distiller = build_distiller(cfg, data, targets)
            fit_or_resume(cfg, run, distiller, data, targets, verbose)
            metrics = (finish(cfg, run, distiller.student, data, started,
                              distillation=teaching.record())
                       if role.is_chief else {})
        agreed(strategy, 0, "the end of the run")  # barrier: the chief has written its results
        if not role.is_chief:
            metrics = chief_run.metrics()
    if cfg.train.qat_epochs and role.is_chief:
        quantization_aware_training(cfg, run, verbose)
    return metrics


@contextlib.contextmanager
def left_clean_if_refused(run: RunDir):
    """A new run folder that an error or an interruption leaves holding nothing but its
    ``config.yaml`` and lock files (refused data, a bad teacher, Ctrl-C while decoding) is
    removed once the folder is released: a refused run leaves no folder behind."""
    try:
        yield
    except BaseException:
        run.remove_if_unused()
        raise
