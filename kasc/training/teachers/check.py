"""Phase 2b of a run: teachers are checked before they teach (``distill.teacher_check``).

Every teacher and their ensemble have been scored on the validation split by
:func:`kasc.training.teachers.runs.prepare_teachers` (its table, also written to ``teachers.json``).
Here the run fits the floor (``kasc.evaluation.floor``: log-mel statistics + logistic
regression on the student's own clips and front end, seconds) and keeps the teachers whose
validation accuracy is not below it.
A teacher below the floor would pull the student toward answers worse than a linear model's:
it is dropped, with one line. With none left the student trains plain (said in one line),
or the run stops (``distill.require_teachers``).

With ``distill.teacher_check: ensemble`` the teachers left then join the ensemble best first,
each only if it raises the ensemble's validation accuracy: a teacher above the floor can
still pull the ensemble down (on 0.5 s clips at 8 kHz a CNN teacher at 0.478 took the
AudioSet teacher's 0.637 down to 0.598), and the student follows the ensemble.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kasc.config import ExperimentConfig
from kasc.evaluation.floor import logmel_floor
from kasc.files.runs import RunDir
from kasc.models.ensemble import average_probabilities
from kasc.training.messages import TrainingError, say


@dataclasses.dataclass(frozen=True)
class TeacherCheck:
    """What the check found and decided.

    Attributes:
      teachers: run folder name -> validation accuracy of each teacher, in order.
      ensemble: validation accuracy of the ensemble of every teacher (None if not scored).
      floor: the floor's figures (``accuracy``, ``log_loss``, ``recipe``, ``seconds``).
      kept: run folder names of the teachers that teach.
    """
    teachers: dict
    ensemble: float | None
    floor: dict
    kept: tuple[str, ...]
    kept_ensemble: float | None = None

    def to_dict(self) -> dict:
        return {"teachers": self.teachers, "ensemble": self.ensemble, "floor": self.floor, "kept": list(self.kept),
                "dropped": [name for name in self.teachers if name not in self.kept],
                **({"kept_ensemble": self.kept_ensemble} if self.kept_ensemble is not None else {})}


def teacher_scores(table: dict, teacher_runs: list[RunDir]) -> tuple[dict, float | None]:
    """Each teacher's validation accuracy (by run folder name) and the ensemble's, from the
    table of :func:`kasc.training.teachers.runs.prepare_teachers` (teachers in order, then ``ensemble``)."""
    names = [name for name in table if name != "ensemble"]
    if len(names) != len(teacher_runs):
        raise TrainingError(f"{len(names)} teachers scored for {len(teacher_runs)} teacher runs")
    scores = {teacher.path.name: table[name]["accuracy"] for teacher, name in zip(teacher_runs, names)}
    return scores, table.get("ensemble", {}).get("accuracy")


def check_teachers(cfg: ExperimentConfig, run: RunDir, data, teacher_runs: list[RunDir], table: dict
                   ) -> tuple[ExperimentConfig, list[RunDir], TeacherCheck]:
    """Keep the teachers not below the floor on the validation split; return the config
    (``distill.teacher_weights`` cut to the kept teachers), the kept runs and the check.

    Raises:
      TrainingError: no teacher is left and ``distill.require_teachers`` is set.
    """
    scores, ensemble = teacher_scores(table, teacher_runs)
    floor = logmel_floor(data.splits["train"], data.splits["valid"], data.logmel)
    floor.pop("probabilities")
    say(f"floor on the validation split ({floor['recipe']}, {floor['seconds']:.0f} s): accuracy "
        f"{floor['accuracy']:.3f}, log loss {floor['log_loss']:.3f}")
    kept = [teacher for teacher in teacher_runs if scores[teacher.path.name] >= floor["accuracy"]]
    for teacher in teacher_runs:
        if teacher not in kept:
            say(f"teacher {teacher.path.name} dropped: validation accuracy {scores[teacher.path.name]:.3f} is below "
                f"the floor's {floor['accuracy']:.3f}")
    kept_ensemble = None
    if cfg.distill.teacher_check == "ensemble" and len(kept) > 1:
        kept, kept_ensemble = raising_the_ensemble(kept, teacher_runs, table, scores, cfg.distill.teacher_weights)
    check = TeacherCheck(scores, ensemble, floor, tuple(teacher.path.name for teacher in kept), kept_ensemble)
    if not kept:
        if cfg.distill.require_teachers:
            raise TrainingError(f"{cfg.name}: no teacher beats the floor ({floor['accuracy']:.3f}) on the validation "
                                f"split and distill.require_teachers is set; see {run.teachers_file}")
        say(f"{cfg.name}: no teacher beats the floor: the student trains plain, on the labels alone "
            f"(distill.require_teachers: true stops instead)")
    weights = cfg.distill.teacher_weights
    if weights and len(kept) < len(teacher_runs):
        weights = tuple(w for w, teacher in zip(weights, teacher_runs) if teacher in kept)
        cfg = dataclasses.replace(cfg, distill=dataclasses.replace(cfg.distill, teacher_weights=weights))
    return cfg, kept, check


def raising_the_ensemble(kept: list[RunDir], teacher_runs: list[RunDir], table: dict, scores: dict,
                         weights=()) -> tuple[list[RunDir], float]:
    """The teachers of ``kept`` that join the ensemble best first (validation accuracy), each
    only if the ensemble with it scores higher on the validation split than without it;
    each one left out is said in one line. Returns them (in their order in ``kept``) and
    their ensemble's accuracy. The ensemble is the weighted mean of the teachers'
    probabilities (``weights``: ``distill.teacher_weights``, one per teacher of
    ``teacher_runs``; equal if empty), the report's Table 2 ensemble
    (:func:`kasc.models.ensemble.average_probabilities`); the probabilities are
    the table's (:func:`kasc.evaluation.ensemble_report.ensemble_report`)."""
    names = [name for name in table if name != "ensemble"]
    entry = {teacher.path.name: table[name] for teacher, name in zip(teacher_runs, names)}
    weight = {teacher.path.name: float(w) for teacher, w in zip(teacher_runs, weights or [1.0] * len(teacher_runs))}
    labels = np.asarray(entry[kept[0].path.name]["labels"])

    def accuracy(members: list[RunDir]) -> float:
        mixed = average_probabilities([entry[m.path.name]["probabilities"] for m in members],
                                      [weight[m.path.name] for m in members])
        return float(np.mean(np.argmax(mixed, axis=-1) == labels))

    chosen = []
    for teacher in sorted(kept, key=lambda t: -scores[t.path.name]):  # stable: ties keep their order
        if not chosen or accuracy(chosen + [teacher]) > accuracy(chosen):
            chosen.append(teacher)
        else:
            say(f"teacher {teacher.path.name} dropped: the ensemble scores {accuracy(chosen + [teacher]):.3f} with it "
                f"and {accuracy(chosen):.3f} without it on the validation split (distill.teacher_check: ensemble)")
    chosen = [teacher for teacher in kept if teacher in chosen]
    return chosen, accuracy(chosen)


def distillation_given(check: TeacherCheck | None, teacher_runs: list[RunDir]) -> str:
    """One line: what distillation the student was given."""
    if not teacher_runs:
        return "no distillation (no teacher" + (" beat the floor)" if check and check.teachers else ")")
    names = ", ".join(teacher.path.name for teacher in teacher_runs)
    if check is None:
        return f"distilled from {len(teacher_runs)} teacher(s): {names} (not checked against the floor)"
    scores = ", ".join(f"{check.teachers[teacher.path.name]:.3f}" for teacher in teacher_runs)
    return (f"distilled from {len(teacher_runs)} of {len(check.teachers)} teacher(s): {names} (validation accuracy "
            f"{scores}; floor {check.floor['accuracy']:.3f})")


def distillation_record(cfg: ExperimentConfig, check, teacher_runs: list[RunDir]) -> dict | None:
    """What ``metrics.json`` records of the teachers: each one's validation accuracy, the
    ensemble's, the floor, which taught, and one line saying what the student was given."""
    if not cfg.distill.teachers:
        return None
    return {**(check.to_dict() if check else {"kept": [t.path.name for t in teacher_runs]}),
            "given": distillation_given(check, teacher_runs)}
