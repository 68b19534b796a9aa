"""Teachers are checked before they teach: the floor (log-mel statistics + logistic
regression) and the rule that drops a teacher below it; masks sized for another clip length
are refused."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kasc.config import ConfigError, load_config
from kasc.files.runs import RunDir
from kasc.training.messages import TrainingError
from kasc.training.teachers import check as teacher_check


class _Split(SimpleNamespace):
    """A split as the floor reads it (kasc.data.pipeline.SplitData's fields)."""

    def __len__(self):
        return len(self.labels)


def _split(rng, n, classes=("quiet", "loud")) -> _Split:
    labels = np.arange(n) % 2
    waveforms = (rng.normal(0, 1, (n, 16000)) * np.where(labels == 1, 3000, 100)[:, None]).astype(np.int16)
    table = pd.DataFrame({"filename": [f"{i}.wav" for i in range(n)], "recording": [""] * n})
    return _Split(table=table, waveforms=waveforms, labels=labels.astype(np.int32), class_names=list(classes))


@pytest.mark.slow
def test_the_floor_learns_what_log_mel_statistics_tell():
    from kasc.data.features import LogMel
    from kasc.evaluation.floor import logmel_floor

    rng = np.random.default_rng(0)
    train, valid = _split(rng, 12), _split(rng, 8)
    cfg = load_config("plain_student")
    floor = logmel_floor(train, valid, LogMel(cfg.features, cfg.data.sample_rate))
    assert floor["accuracy"] == 1.0 and floor["probabilities"].shape == (8, 2)  # loud vs quiet: linear
    assert "logistic regression" in floor["recipe"]


def _student_run(tmp_path, scores):
    """A student run, its teacher runs, and their table as prepare_teachers returns it."""
    table = {name: {"accuracy": acc} for name, acc in scores.items()}
    table["ensemble"] = {"accuracy": max(scores.values())}
    return RunDir(tmp_path / "student"), [RunDir(tmp_path / name) for name in scores], table


def test_a_teacher_below_the_floor_is_dropped_and_none_left_trains_plain(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("kasc.training.teachers.check.logmel_floor",
                        lambda *a: {"accuracy": 0.5, "log_loss": 1.0, "recipe": "r", "seconds": 0.1,
                                    "probabilities": None})
    data = SimpleNamespace(splits={"train": None, "valid": None}, logmel=None)
    cfg = load_config("student", ["distill.teachers=[teacher_cnn, teacher_bcresnet]",
                                  "distill.teacher_weights=[2.0, 1.0]"])
    run, teachers, table = _student_run(tmp_path, {"teacher_cnn": 0.4, "teacher_bcresnet": 0.6})
    cfg2, kept, check = teacher_check.check_teachers(cfg, run, data, teachers, table)
    assert [t.path.name for t in kept] == ["teacher_bcresnet"] and cfg2.distill.teacher_weights == (1.0,)
    assert "teacher teacher_cnn dropped: validation accuracy 0.400 is below the floor's 0.500" in capsys.readouterr().out
    assert check.to_dict()["dropped"] == ["teacher_cnn"]
    assert "distilled from 1 of 2 teacher(s): teacher_bcresnet" in teacher_check.distillation_given(check, kept)

    run, teachers, table = _student_run(tmp_path / "b", {"teacher_cnn": 0.3, "teacher_bcresnet": 0.2})
    _, kept, check = teacher_check.check_teachers(cfg, run, data, teachers, table)
    assert kept == [] and "the student trains plain" in capsys.readouterr().out
    assert teacher_check.distillation_given(check, kept) == "no distillation (no teacher beat the floor)"
    strict = load_config("student", ["distill.teachers=[teacher_cnn, teacher_bcresnet]",
                                     "distill.require_teachers=true"])
    with pytest.raises(TrainingError, match="no teacher beats the floor"):
        teacher_check.check_teachers(strict, run, data, teachers, table)


def test_masks_that_would_erase_most_of_a_clip_are_refused():
    with pytest.raises(ConfigError, match="augment.time_mask_max_frames must be at most 7 with augment.time_masks 2: "
                                          "a clip of 1 s has 28 frames"):
        load_config("teacher_cnn", ["data.clip_seconds=1", "data.rebuild_10s=false"])
    with pytest.raises(ConfigError, match="augment.freq_mask_max_bins"):
        load_config("student", ["augment.freq_mask_max_bins=100"])
    assert load_config("teacher_cnn").augment.time_mask_max_frames == 24  # 10 s recordings: 313 frames


def test_a_teacher_that_lowers_the_ensemble_is_dropped_with_teacher_check_ensemble(tmp_path, monkeypatch, capsys):
    """Above the floor but pulling the ensemble down: kept by `floor`, dropped by `ensemble`;
    a teacher that raises the ensemble stays."""
    monkeypatch.setattr("kasc.training.teachers.check.logmel_floor",
                        lambda *a: {"accuracy": 0.3, "log_loss": 1.0, "recipe": "r", "seconds": 0.1,
                                    "probabilities": None})
    data = SimpleNamespace(splits={"train": None, "valid": None}, logmel=None)
    labels = np.array([0, 0, 1, 1, 0, 1, 0, 1])

    def probabilities(correct):  # each clip's probability of its true class -> (8, 2)
        correct = np.asarray(correct)
        return np.where(np.eye(2)[labels] == 1, correct[:, None], 1 - correct[:, None])

    probabilities = {
        "teacher_cnn": probabilities([0.45, 0.45, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]),  # 0.75
        "teacher_bcresnet": probabilities([0.05, 0.05, 0.05, 0.05, 0.95, 0.95, 0.95, 0.95]),  # 0.5
        "teacher_mobilenetv2": probabilities([0.7, 0.7, 0.55, 0.55, 0.55, 0.45, 0.45, 0.45]),  # 0.625, mends the cnn's
    }
    scores = {name: float(np.mean(np.argmax(p, axis=1) == labels)) for name, p in probabilities.items()}
    assert scores == {"teacher_cnn": 0.75, "teacher_bcresnet": 0.5, "teacher_mobilenetv2": 0.625}
    run, teachers, table = _student_run(tmp_path, scores)
    for name in scores:
        table[name].update(probabilities=probabilities[name], labels=labels)
    cfg = load_config("student", ["distill.teachers=[teacher_cnn, teacher_bcresnet, teacher_mobilenetv2]"])
    _, kept, _ = teacher_check.check_teachers(cfg, run, data, teachers, table)
    assert [t.path.name for t in kept] == list(scores)  # the floor alone keeps every one
    ensemble_cfg = load_config("student", ["distill.teachers=[teacher_cnn, teacher_bcresnet, teacher_mobilenetv2]",
                                           "distill.teacher_check=ensemble"])
    capsys.readouterr()
    _, kept, check = teacher_check.check_teachers(ensemble_cfg, run, data, teachers, table)
    assert [t.path.name for t in kept] == ["teacher_cnn", "teacher_mobilenetv2"]
    assert "teacher teacher_bcresnet dropped: the ensemble scores" in capsys.readouterr().out
    record = check.to_dict()
    assert record["dropped"] == ["teacher_bcresnet"] and record["kept_ensemble"] == 1.0
