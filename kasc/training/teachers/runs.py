"""Phase 2 of a run: the teachers, trained (or reused) as runs of their own, checked to
predict the student's classes and not to have heard its validation clips, and scored with
their ensemble on the validation split (the report's Table 2)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kasc.config import ExperimentConfig, changed_settings, load_config, parse_teacher, teacher_run_name
from kasc.data.datasets import full_training_table, load_split
from kasc.data.table import require_disjoint
from kasc.evaluation.ensemble_report import ensemble_report
from kasc.evaluation.metrics import summary
from kasc.files.atomic import write_json
from kasc.files.runs import RunDir, default_run_dir
from kasc.training.messages import TrainingError, say
from kasc.training.teachers.cross_fit import held_out_configs, member_weights, require_same_training_clips


def prepare_teachers(cfg: ExperimentConfig, run: RunDir, profile: str | None, class_names: list[str],
                     verbose: int, train_run, runs_dir: Path | None = None, valid_table=None
                     ) -> tuple[list[RunDir], dict]:
    """Phase 2: train (or reuse) each teacher run of ``distill.teachers`` in ``runs_dir``
    (default: beside the student's run; :func:`kasc.training.run.train` passes the chief's
    folder, or its ``teachers/`` for ``distill.teacher_data: student``) as
    ``<name>[-<profile>]`` with ``train_run`` (that same ``train``, passed in: a teacher is a
    run like any other), print them
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
        train_run(teacher_cfg, teacher_run, profile=profile, verbose=verbose, wait_for_folder=True,
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
