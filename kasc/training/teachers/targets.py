"""Phase 3 of a run: the teachers' soft targets for the student (cached clip logits,
pre-drawn views, cross-fitted parts, or online teachers)."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from kasc.config import ExperimentConfig
from kasc.data.batch_keys import SOFT_TARGETS
from kasc.data.datasets import full_training_table
from kasc.data.parts import clip_parts
from kasc.files.runs import RunDir
from kasc.models import load_model
from kasc.models.ensemble import tempered_average
from kasc.training.teachers.cross_fit import cross_fitted_logits
from kasc.training.inputs import TrainingData, view_plan
from kasc.training.messages import say
from kasc.training.teachers.soft_targets import cached_teacher_logits
from kasc.training.teachers.view_bank import view_logits_of_teachers


@dataclasses.dataclass
class SoftTargets:
    """How the student gets its soft targets: carried with the batches (``extra``, cached
    teacher outputs), from teachers run on every batch (``teachers``, online), or neither."""

    extra: dict
    teachers: list
    distilled: bool


def prepare_soft_targets(cfg: ExperimentConfig, data: TrainingData, teacher_runs: list[RunDir],
                         verbose: int, strategy=None) -> SoftTargets:
    """Phase 3: the teachers' soft targets, cached per training clip (``distill.soft_targets:
    cached``, ``kasc.training.teachers.soft_targets``; computed outside ``strategy``, by whichever process
    takes the cache entry first: under several workers on shared storage, once), or the
    teacher models for online targets (loaded in the scope of ``strategy``)."""
    distill = cfg.distill
    if not teacher_runs:
        return SoftTargets({}, [], distilled=False)
    if cfg.augment.views:  # kasc.data.views: every teacher labels every view the student will hear
        plan, files = view_plan(cfg, data.splits["train"])
        logits = view_logits_of_teachers(cfg, data.splits["train"], [teacher.model_file for teacher in teacher_runs],
                                       plan, files, progress=verbose > 0)
        shape = logits[0].shape
        soft = np.asarray(tempered_average([z.reshape(-1, shape[-1]) for z in logits], distill.temperature,
                                           distill.teacher_weights)).reshape(shape)
        say(f"soft targets: logits of {len(logits)} teacher(s) on {plan.views} views of each training clip "
            f"(consistent: the audio the student hears), T = {distill.temperature}")
        return SoftTargets({SOFT_TARGETS: soft}, [], distilled=True)
    if distill.soft_targets == "cached" and distill.cross_fit_parts:
        logits = cross_fitted_teacher_logits(cfg, data.splits["train"], teacher_runs, verbose)
        say(f"soft targets: cross-fitted logits of {len(logits)} teacher(s) ({distill.cross_fit_parts} held-out runs "
            f"each), T = {distill.temperature}")
        soft = np.asarray(tempered_average(logits, distill.temperature, distill.teacher_weights))
        return SoftTargets({SOFT_TARGETS: soft}, [], distilled=True)
    if distill.soft_targets == "cached":
        logits = [cached_teacher_logits(cfg, data.splits["train"], teacher.model_file, progress=verbose > 0)
                  for teacher in teacher_runs]
        say(f"soft targets: cached logits of {len(logits)} teacher(s), T = {distill.temperature}")
        soft = np.asarray(tempered_average(logits, distill.temperature, distill.teacher_weights))
        return SoftTargets({SOFT_TARGETS: soft}, [], distilled=True)

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        teachers = [load_model(teacher.model_file) for teacher in teacher_runs]
    say(f"soft targets: {len(teachers)} teacher(s) online, T = {distill.temperature}")
    return SoftTargets({}, teachers, distilled=True)


def cross_fitted_teacher_logits(cfg: ExperimentConfig, train_data, teacher_runs: list[RunDir],
                                verbose: int) -> list[np.ndarray]:
    """Each teacher's logits (n_clips, C) on the training clips, every clip's from the run
    of that teacher that held out its part (``kasc.training.teachers.cross_fit``); ``teacher_runs`` holds
    ``distill.cross_fit_parts`` runs per teacher, teacher-major. Cached per run and part."""
    parts = cfg.distill.cross_fit_parts
    part_of_clip = clip_parts(train_data.table, parts, whole=full_training_table(cfg.data))
    say(f"cross-fitting: {parts} parts of {', '.join(str(int((part_of_clip == k).sum())) for k in range(1, parts + 1))} "
        f"training clips (grouped by recording)")
    out = []
    for first in range(0, len(teacher_runs), parts):
        per_part = [cached_teacher_logits(cfg, train_data, teacher_runs[first + k - 1].model_file,
                                          progress=verbose > 0, rows=np.flatnonzero(part_of_clip == k))
                    if (part_of_clip == k).any() else np.zeros((0, len(train_data.class_names)), np.float32)
                    for k in range(1, parts + 1)]
        out.append(cross_fitted_logits(part_of_clip, per_part))
    return out
