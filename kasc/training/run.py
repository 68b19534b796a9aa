"""A run from its config to its results: :func:`train` holds the run folder and runs the
phases (``kasc.training.inputs``, teachers here and in ``kasc.training.teachers``, ``fitting``,
``finishing``); teachers are runs of their own, trained (or reused) by :func:`prepare_teachers`."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import keras

from kasc.config import ExperimentConfig, changed_settings, load_config, parse_teacher, teacher_run_name
from kasc.data.datasets import load_split, full_training_table
from kasc.data.normalization import with_measured_normalization
from kasc.data.survey import data_notes, survey_split, with_clip_length
from kasc.data.table import require_disjoint
from kasc.evaluation.ensemble_report import ensemble_report
from kasc.evaluation.metrics import summary
from kasc.files.atomic import write_json
from kasc.files.runs import RunDir, default_run_dir
from kasc.training.teachers.cross_fit import held_out_configs, member_weights, require_same_training_clips
from kasc.training.distribute import agreed, make_strategy, worker_folder, worker_role
from kasc.training.finishing import finish, quantization_aware_training
from kasc.training.fitting import build_distiller, fit_or_resume
from kasc.training.inputs import prepare_data
from kasc.training.messages import TrainingError, say
from kasc.training.network import dtype_policy
from kasc.training.teachers.check import check_teachers, distillation_given
from kasc.training.teachers.targets import prepare_soft_targets


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
    with (left_clean_if_refused(run) if role.is_chief and not run.path.exists() else contextlib.nullcontext(),
          run.owned(wait=wait_for_folder, say=say) if role.is_chief else contextlib.nullcontext()):
        # headers only, and only where they are used: the clip length, or the notes this run prints
        wants_notes = notes and role.is_chief and verbose > 0
        survey = survey_split(cfg) if cfg.data.clip_length == "median" or wants_notes else None
        cfg = with_clip_length(cfg, survey) if survey is not None else cfg
        if cfg.features.measure_normalization:  # every run that asks: teachers and the Python API included
            cfg = with_measured_normalization(cfg, progress=verbose > 0)
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
                say(f"{cfg.name}: log-mel normalisation measured on the training clips: mean "
                    f"{cfg.features.normalize_mean:g}, std {cfg.features.normalize_std:g} (written to {run.config_file})")
            if role.is_chief and verbose > 0:
                if cfg.data.clip_length == "median":
                    say(f"{cfg.name}: clip length {cfg.data.clip_seconds:g} s, from the training files' median "
                        f"duration {survey.median_seconds:.2f} s (data.clip_length median; written to {run.config_file})")
                for note in data_notes(cfg, survey) if wants_notes else ():
                    say(f"{cfg.name}: note: {note}")
            # teachers on the student's data live in the (chief's) student folder, others beside it
            teachers_dir = (chief_run.path / "teachers" if cfg.distill.teacher_data == "student"
                            else chief_run.path.parent)
            teacher_runs, table = (prepare_teachers(cfg, run, profile, data.class_names, verbose, teachers_dir,
                                                    valid_table=data.splits["valid"].table)
                                   if cfg.distill.teachers else ([], {}))
            check = None
            if teacher_runs and cfg.distill.teacher_check == "floor" and not cfg.distill.cross_fit_parts:
                cfg, teacher_runs, check = check_teachers(cfg, run, data, teacher_runs, table)
            targets = prepare_soft_targets(cfg, data, teacher_runs, verbose, strategy)
            # seeded after the soft targets: loading a teacher draws random initial values, and
            # whether a process loads one depends on whether the cache entry existed
            keras.utils.set_random_seed(cfg.train.seed)
            with strategy.scope(), dtype_policy(cfg.train.mixed_precision):  # kasc.training.distribute
                distiller = build_distiller(cfg, data, targets)
            fit_or_resume(cfg, run, distiller, data, targets, verbose)
            metrics = (finish(cfg, run, distiller.student, data, started,
                              distillation=distillation_record(cfg, check, teacher_runs))
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


def distillation_record(cfg: ExperimentConfig, check, teacher_runs: list[RunDir]) -> dict | None:
    """What ``metrics.json`` records of the teachers: each one's validation accuracy, the
    ensemble's, the floor, which taught, and one line saying what the student was given."""
    if not cfg.distill.teachers:
        return None
    return {**(check.to_dict() if check else {"kept": [t.path.name for t in teacher_runs]}),
            "given": distillation_given(check, teacher_runs)}


def prepare_teachers(cfg: ExperimentConfig, run: RunDir, profile: str | None, class_names: list[str],
                     verbose: int, runs_dir: Path | None = None, valid_table=None) -> tuple[list[RunDir], dict]:
    """Phase 2: train (or reuse) each teacher run of ``distill.teachers`` in ``runs_dir``
    (default: beside the student's run; :func:`train` passes the chief's folder, or its
    ``teachers/`` for ``distill.teacher_data: student``) as ``<name>[-<profile>]``, print them
    and their ensemble (the report's Table 2, also written to ``teachers.json``, and its
    validation predictions to ``teachers_valid.csv``); return their run folders and that
    table ({name: split report}, one per teacher in order, then ``ensemble``).

    Raises:
      DatasetError: a teacher's training split holds a clip of ``valid_table`` (the
        student's validation split), unless the student's ``data.allow_overlap``.
    """
    runs_dir = runs_dir or run.path.parent
    # teachers run under the student's distribution settings (the process's strategy)
    execution = {"strategy": cfg.train.strategy, "devices": cfg.train.devices}
    teacher_set = cfg.distill.teacher_set or {}
    if cfg.distill.teacher_data == "student":  # the student's data, at each teacher's own sample rate
        student_data = {f"data.{key}": value for key, value in cfg.to_dict()["data"].items() if key != "sample_rate"}
        teacher_set = {**student_data, **teacher_set}
    entries = [parse_teacher(entry) for entry in cfg.distill.teachers]  # (name, the entry's own settings)
    settings = [{**teacher_set, **own} or None for _, own in entries]
    teacher_cfgs = [dataclasses.replace(c, train=dataclasses.replace(c.train, **execution))
                    for c in (load_config(name, profile=profile, settings=more)
                              for (name, _), more in zip(entries, settings))]
    # a teacher's folder is named by the settings that change it (none: the teacher's own run);
    # teachers on the student's data, in the student's folder, by their entry's own settings alone
    named_by = [own for _, own in entries] if cfg.distill.teacher_data == "student" else settings
    run_names = [teacher_run_name(c.name, changed_settings(load_config(name, profile=profile), c, more))
                 for (name, _), more, c in zip(entries, named_by, teacher_cfgs)]
    if valid_table is not None and not cfg.data.allow_overlap:
        for teacher_cfg in teacher_cfgs:  # a teacher that heard the validation clips would leak them
            require_disjoint(load_split(teacher_cfg.data, "train"), valid_table,
                             (f"teacher {teacher_cfg.name}'s training", "student's validation"),
                             f"distill.teachers{' with distill.teacher_set' if teacher_set else ''}")
    weights = cfg.distill.teacher_weights
    if cfg.distill.cross_fit_parts:  # kasc.training.teachers.cross_fit: each teacher once per held-out part
        student_table = full_training_table(cfg.data)
        for teacher_cfg in teacher_cfgs:
            require_same_training_clips(cfg, student_table, teacher_cfg)
        run_names = [f"{c.name}{run_name[len(teacher_cfg.name):]}" for teacher_cfg, run_name in zip(teacher_cfgs, run_names)
                     for c in held_out_configs(cfg, teacher_cfg)]
        teacher_cfgs = [c for teacher_cfg in teacher_cfgs for c in held_out_configs(cfg, teacher_cfg)]
        weights = member_weights(weights, len(cfg.distill.teachers), cfg.distill.cross_fit_parts)
    teacher_runs = []
    for teacher_cfg, run_name in zip(teacher_cfgs, run_names):
        teacher_run = RunDir(runs_dir / default_run_dir(dataclasses.replace(teacher_cfg, name=run_name), profile).name)
        say(f"teacher {teacher_cfg.name}: {teacher_run.path}")
        # reuses a finished run of the same config; waits if another student is training it
        train(teacher_cfg, teacher_run, profile=profile, verbose=verbose, wait_for_folder=True,
              notes=cfg.distill.teacher_data != "student", finished_hint="reused: the student's --restart keeps its teachers; train the teacher "
                            "with --restart (or delete its folder) to train it again")
        teacher_classes = teacher_run.metrics().get("class_names")
        if teacher_classes != class_names:
            raise TrainingError(f"teacher run {teacher_run.path} predicts classes {teacher_classes}, "
                                f"the student's data has {class_names}")
        teacher_runs.append(teacher_run)
    trained_on = [r.path.name for r in teacher_runs if r.metrics().get("held_out") is False]
    say("teachers and their ensemble on the teachers' validation split (report Table 2)"
        + (f"; NOT HELD OUT: {', '.join(trained_on)} trained on validation clips:" if trained_on else ":"))
    table = ensemble_report(teacher_runs, weights, batch_size=cfg.train.batch_size,
                            predictions_file=run.teacher_predictions_file)
    write_json(run.teachers_file, {name: {**summary(r), "per_class_accuracy": r["per_class_accuracy"],
                                          "held_out": not trained_on}
                                   for name, r in table.items()})
    return teacher_runs, table
