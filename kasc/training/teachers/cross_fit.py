"""Cross-fitted soft targets (``distill.cross_fit_parts``).

A teacher scores the clips it trained on almost perfectly: measured on UrbanSound8K,
AudioSet teachers fine-tuned on fold 1 put their top class on the label of 99-100 % of
their training clips, so soft targets on those clips restate the labels. Cross-fitting
labels each training clip with teachers that never heard its recording:

- the training split is cut into ``n`` parts by recording (``kasc.data.parts``);
- every teacher of ``distill.teachers`` is trained ``n`` times, run ``k`` without part
  ``k`` (``data.train_parts = n``, ``data.held_out_part = k``), as the run
  ``<teacher>-without<k>of<n>``;
- the clips of part ``k`` get the logits of run ``k`` of each teacher; the ensemble
  averages the teachers as without cross-fitting.

On the validation split, the ``n`` runs of each teacher are ensemble members of equal
weight (each ``1/n`` of the teacher's weight).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kasc.config import ConfigError, ExperimentConfig
from kasc.data.datasets import full_training_table


def held_out_name(teacher: str, part: int, parts: int) -> str:
    """The run name of ``teacher`` trained without part ``part`` of ``parts``."""
    return f"{teacher}-without{part}of{parts}"


def held_out_configs(student: ExperimentConfig, teacher: ExperimentConfig) -> list[ExperimentConfig]:
    """The ``distill.cross_fit_parts`` configs derived from ``teacher`` for ``student``:
    each trains without one part; they group clips by the student's recording column.

    Raises:
      ConfigError: the teacher names another recording column than the student.
    """
    parts = student.distill.cross_fit_parts
    column = student.data.recording_column
    if teacher.data.recording_column not in ("", column):
        raise ConfigError(f"distill.cross_fit_parts: teacher {teacher.name} groups clips by data.recording_column "
                          f"'{teacher.data.recording_column}', the student {student.name} by '{column}'")
    return [dataclasses.replace(teacher, name=held_out_name(teacher.name, part, parts),
                                data=dataclasses.replace(teacher.data, recording_column=column, train_parts=parts,
                                                         held_out_part=part))
            for part in range(1, parts + 1)]


def require_same_training_clips(student: ExperimentConfig, student_table, teacher: ExperimentConfig) -> None:
    """Cross-fitting is only sound if the teacher's training split lists the student's
    clips (its parts are then the student's); ``student_table`` is the student's whole
    training split (``kasc.data.datasets.full_training_table``), read once for all teachers.

    Raises:
      ConfigError: the two training splits list different files.
    """
    student_files = set(student_table["filename"])
    teacher_files = set(full_training_table(teacher.data)["filename"])
    if student_files != teacher_files:
        only_student = sorted(student_files - teacher_files)[:3]
        only_teacher = sorted(teacher_files - student_files)[:3]
        raise ConfigError(f"distill.cross_fit_parts: teacher {teacher.name} trains on other clips than the student "
                          f"{student.name} (only the student's: {only_student}; only the teacher's: {only_teacher}); "
                          f"cross-fitting needs the same training split")


def member_weights(teacher_weights: tuple[float, ...], n_teachers: int, parts: int) -> list[float]:
    """Ensemble weights of the ``n_teachers * parts`` held-out runs (teacher-major order)
    for evaluating them together: each run gets ``1/parts`` of its teacher's weight."""
    weights = list(teacher_weights) or [1.0] * n_teachers
    return [w / parts for w in weights for _ in range(parts)]


def cross_fitted_logits(clip_parts: np.ndarray, logits_per_part: list[np.ndarray]) -> np.ndarray:
    """One teacher's logits (n_clips, C) on the training clips, each clip's row taken from
    the run that held out its part.

    Args:
      clip_parts: the part (1..n) of each clip, (n_clips,).
      logits_per_part: n arrays; entry ``k - 1`` holds run ``k``'s logits on the clips of
        part ``k`` in their order in the split, (clips of part k, C).
    """
    n_classes = logits_per_part[0].shape[-1]
    out = np.full((len(clip_parts), n_classes), np.nan, dtype=np.float32)
    for part, logits in enumerate(logits_per_part, start=1):
        rows = np.flatnonzero(clip_parts == part)
        if len(rows) != len(logits):
            raise ValueError(f"part {part} has {len(rows)} clips but {len(logits)} rows of logits")
        out[rows] = logits
    return out
