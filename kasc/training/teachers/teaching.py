"""The one entry point for teachers in a run: :func:`teach` takes the student's config and
data and returns everything the student needs from its teachers (:class:`Teaching`):
the teacher runs (trained or reused, :mod:`.runs`), the check against the floor
(:mod:`.check`), the soft targets (:mod:`.targets`) and what ``metrics.json`` records."""

from __future__ import annotations

import dataclasses
from typing import Callable

from kasc.config import ExperimentConfig
from kasc.files.runs import RunDir
from kasc.training.inputs import TrainingData
from kasc.training.teachers.check import TeacherCheck, check_teachers, distillation_record
from kasc.training.teachers.runs import prepare_teachers
from kasc.training.teachers.targets import SoftTargets, prepare_soft_targets


@dataclasses.dataclass(frozen=True)
class Teaching:
    """What the teachers give a student.

    Attributes:
      cfg: the student's config, its ``distill.teacher_weights`` narrowed to the teachers
        that passed the check (``distill.teachers`` keeps the list the user gave).
      runs: the run folders of the teachers that teach, in order.
      check: what the check against the floor found (None when it did not run).
      targets: how the student gets its soft targets (none when no teacher teaches).
    """
    cfg: ExperimentConfig
    runs: list[RunDir]
    check: TeacherCheck | None
    targets: SoftTargets

    def record(self) -> dict | None:
        """``metrics.json``'s ``distillation`` entry (None for a plain run)."""
        return distillation_record(self.cfg, self.check, self.runs)


def teach(cfg: ExperimentConfig, run: RunDir, chief_run: RunDir, data: TrainingData, profile: str | None,
          verbose: int, strategy, train_run: Callable) -> Teaching:
    """Phases 2 and 3 of a run: train or reuse the teachers of ``cfg.distill.teachers`` with
    ``train_run`` (:func:`kasc.training.run.train`), in the chief's folder
    (``teachers/``, for ``distill.teacher_data: student``) or beside it; check them against
    the floor (``distill.teacher_check: floor`` or ``ensemble``, not with cross-fitting); compute their soft
    targets. A plain config (no teachers) returns at once with no targets."""
    teachers_dir = chief_run.path / "teachers" if cfg.distill.teacher_data == "student" else chief_run.path.parent
    teacher_runs, table = (prepare_teachers(cfg, run, profile, data.class_names, verbose, train_run, teachers_dir,
                                            valid_table=data.splits["valid"].table)
                           if cfg.distill.teachers else ([], {}))
    check = None
    if teacher_runs and cfg.distill.teacher_check in ("floor", "ensemble") and not cfg.distill.cross_fit_parts:
        cfg, teacher_runs, check = check_teachers(cfg, run, data, teacher_runs, table)
    return Teaching(cfg, teacher_runs, check, prepare_soft_targets(cfg, data, teacher_runs, verbose, strategy))
