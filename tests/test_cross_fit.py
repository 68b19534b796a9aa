"""Cross-fitted soft targets (``kasc.training.teachers.cross_fit``): held-out teacher configs, each clip's
logits from the run that never heard its recording, and a tiny run end to end."""

import dataclasses

import numpy as np
import pytest

from kasc.config import ConfigError, load_config
from kasc.training.teachers.cross_fit import cross_fitted_logits, held_out_configs, held_out_name, member_weights
from kasc.data.datasets import load_split
from kasc.data.parts import clip_parts
from kasc.train import main as train_main
from tests.conftest import tiny_config


def test_held_out_configs_name_and_hold_out_each_part():
    student = load_config("submission3", ["distill.cross_fit_parts=3"])
    teacher = load_config("teacher_cnn")
    derived = held_out_configs(student, teacher)
    assert [c.name for c in derived] == [held_out_name("teacher_cnn", k, 3) for k in (1, 2, 3)]
    assert [(c.data.train_parts, c.data.held_out_part) for c in derived] == [(3, 1), (3, 2), (3, 3)]
    assert all(dataclasses.replace(c.data, train_parts=0, held_out_part=0) == teacher.data for c in derived)


def test_a_teacher_grouping_clips_otherwise_is_refused():
    student = load_config("us8k_kd_crossfit_student")
    teacher = load_config("us8k_teacher_mn04_probe", ["data.recording_column=slice_file_name"])
    with pytest.raises(ConfigError, match="recording_column 'slice_file_name'.*'fsID'"):
        held_out_configs(student, teacher)


def test_each_clip_gets_the_logits_of_the_run_that_held_out_its_part():
    parts = np.array([2, 1, 2, 3, 1])
    per_part = [np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[3.0, 0.0], [4.0, 0.0]]), np.array([[5.0, 0.0]])]
    assert cross_fitted_logits(parts, per_part)[:, 0].tolist() == [3.0, 1.0, 4.0, 5.0, 2.0]
    with pytest.raises(ValueError, match="part 3 has 1 clips but 2 rows"):
        cross_fitted_logits(parts, per_part[:2] + [np.zeros((2, 2))])


def test_member_weights_split_each_teachers_weight_over_its_runs():
    assert member_weights((), 2, 2) == [0.5, 0.5, 0.5, 0.5]
    assert member_weights((3.0, 1.0), 2, 2) == [1.5, 1.5, 0.5, 0.5]


@pytest.mark.slow
def test_a_cross_fitted_run_trains_a_teacher_per_part_and_labels_each_clip_with_the_one_that_held_it_out(
        tiny_tau, tmp_path):
    teacher = tiny_config(tmp_path, "teacher", tiny_tau, "train: {epochs: 1, batch_size: 4, export: false}\n",
                          base="default")
    student = tiny_config(tmp_path, "kd", tiny_tau,
                          f"distill: {{teachers: ['{teacher}'], cross_fit_parts: 2}}\n")
    run = tmp_path / "runs" / "kd"
    assert train_main([str(student), "--run-dir", str(run), "--verbose", "0"]) == 0
    student_table = load_split(load_config(student).data, "train")
    parts = clip_parts(student_table, 2)
    for part in (1, 2):
        teacher_run = tmp_path / "runs" / f"teacher-without{part}of2"
        teacher_cfg = load_config(teacher_run / "config.yaml")
        assert (teacher_cfg.data.train_parts, teacher_cfg.data.held_out_part) == (2, part)
        heard = set(load_split(teacher_cfg.data, "train")["recording"])
        labelled = set(student_table["recording"][parts == part])
        assert heard and labelled and not heard & labelled  # it never heard the clips it labels
        cache, = (tmp_path / "cache" / "soft_targets").glob(f"teacher-without{part}of2-*.npy")
        assert np.load(cache).shape == (int((parts == part).sum()), 2)
    assert "teacher-without1of2" in (run / "teachers.json").read_text()
