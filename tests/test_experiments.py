"""The measurement scripts under ``experiments/``: their arithmetic on tiny arrays."""

import importlib.util

import numpy as np
import pytest

from tests.conftest import REPO


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_soft_target_statistics():
    stats = _script("soft_target_stats").target_statistics(
        np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.2, 0.7, 0.1]]), np.array([0, 2, 0]))
    assert stats["clips"] == 3
    assert stats["top1_agreement"] == pytest.approx(1 / 3)  # only the one-hot clip: the uniform one ties (argmax 0), the third tops class 1
    assert stats["label_probability"] == pytest.approx((1.0 + 1 / 3 + 0.2) / 3)
    assert stats["top_probability"] == pytest.approx((1.0 + 1 / 3 + 0.7) / 3)
    expected_entropy = (0.0 + np.log(3) - (0.2 * np.log(0.2) + 0.7 * np.log(0.7) + 0.1 * np.log(0.1))) / 3
    assert stats["entropy_nats"] == pytest.approx(expected_entropy, rel=1e-6)


def test_every_run_of_experiments_us8k_is_a_valid_config():
    """A typo in a run name of ``experiments/us8k.sh`` would only show hours into the script."""
    import re

    from kasc.config import load_config

    script = (REPO / "experiments/us8k.sh").read_text()
    names = set(re.findall(r"^\s*(?:python -m kasc\.train|three_seeds) ([a-z0-9_]+)", script, re.MULTILINE))
    assert len(names) >= 15 and "us8k_plain_student" in names
    for name in sorted(names):
        cfg = load_config(name)
        assert cfg.data.format == "csv" and cfg.data.train_split == "1", name


def test_every_run_of_experiments_cv_loads_with_the_scripts_settings_in_both_directions():
    """experiments/cv.sh runs each config with --set overrides per direction and seed; a typo
    in a name or a setting would only show hours into the script."""
    import re

    from kasc.config import load_config

    script = (REPO / "experiments/cv.sh").read_text()
    names = set(re.findall(r"^\s*one_run ([a-z0-9_]+)", script, re.MULTILINE))
    recipes = re.findall(r'^ALL_RECIPES="([a-z0-9_ ]+)"', script, re.MULTILINE)[0].split()
    assert "us8k_consistent" in recipes
    names |= {f"{recipe}_{side}_student" for recipe in recipes for side in ("kd", "plain")}
    for recipe in recipes:  # a recipe's two sides differ only in the distillation
        kd, plain = load_config(f"{recipe}_kd_student"), load_config(f"{recipe}_plain_student")
        assert (kd.augment, kd.train, kd.model, kd.features, kd.data) == (
            plain.augment, plain.train, plain.model, plain.features, plain.data), recipe
        assert kd.distill.teachers and not plain.distill.teachers, recipe
    for name in sorted(names):
        for train, valid in (("1", "2"), ("2", "1")):
            overrides = [f"data.train_split={train}", f"data.valid_split={valid}", "train.seed=1", "augment.seed=1",
                         "augment.views_seed=0"]
            if load_config(name).distill.teachers:
                overrides.append(f"distill.teacher_set={{data.train_split: '{train}', data.valid_split: '{valid}'}}")
            cfg = load_config(name, overrides)
            assert (cfg.data.train_split, cfg.data.valid_split) == (train, valid) and cfg.augment.views >= 64, name


def test_the_final_models_of_experiments_final_train_on_every_clip_with_the_cv_recipe():
    """experiments/final.sh's two runs: the cross-validated recipe on folds 1+2, teachers
    included, each config otherwise that of its cross-validation twin."""
    import re

    from kasc.config import load_config

    script = (REPO / "experiments/final.sh").read_text()
    names = re.findall(r"^for name in ([a-z0-9_ ]+); do", script, re.MULTILINE)[0].split()
    assert names == ["us8k_student", "us8k_plain_student_all"]
    recipe = re.findall(r"^recipe=([a-z0-9_]+)$", script, re.MULTILINE)[0]
    cv_script = (REPO / "experiments/cv.sh").read_text()
    assert recipe in re.findall(r'^ALL_RECIPES="([a-z0-9_ ]+)"', cv_script, re.MULTILINE)[0].split()
    for name, twin in zip(names, (f"{recipe}_kd_student", f"{recipe}_plain_student")):
        cfg, cv = load_config(name), load_config(twin)
        assert (cfg.data.train_split, cfg.data.allow_overlap) == ("1+2", True), name
        assert (cfg.augment, cfg.train, cfg.model, cfg.features) == (cv.augment, cv.train, cv.model, cv.features)
        assert cfg.distill.teachers == cv.distill.teachers
    student = load_config("us8k_student")
    teacher = load_config(student.distill.teachers[0], settings=student.distill.teacher_set)
    assert teacher.data.train_split == "1+2"  # the teachers hear every clip too


@pytest.mark.parametrize("recipe", ["mixstyle", "ema"])
def test_the_student_side_candidates_train_on_the_views_the_teachers_already_labelled(recipe):
    """us8k_consistent_mixstyle changes only the student's own log-mel, us8k_consistent_ema only
    its optimiser: their views (and so the teachers' cached view bank) are those of
    us8k_consistent."""
    from kasc.config import load_config
    from kasc.data.views import plan_for

    base, candidate = load_config("us8k_consistent_kd_student"), load_config(f"us8k_consistent_{recipe}_kd_student")
    if recipe == "mixstyle":
        assert (base.augment.mixstyle_prob, candidate.augment.mixstyle_prob) == (0.0, 0.4)
    else:
        assert (base.train.ema_momentum, candidate.train.ema_momentum) == (0.0, 0.998)
        assert base.augment == candidate.augment
    assert plan_for(candidate.augment, 873).digest() == plan_for(base.augment, 873).digest()


def test_the_long_speed_candidate_trains_longer_on_the_views_of_the_speed_candidate():
    """us8k_consistent_speed_long changes only the schedule of us8k_consistent_speed: 300
    epochs, the warm-up still 3/8 of the run, on the same views (the same cached view bank)."""
    from kasc.config import load_config
    from kasc.data.views import plan_for

    for side in ("kd", "plain"):
        base = load_config(f"us8k_consistent_speed_{side}_student")
        long = load_config(f"us8k_consistent_speed_long_{side}_student")
        assert (long.train.epochs, long.train.decay_end_epoch) == (2 * base.train.epochs, 2 * base.train.decay_end_epoch)
        assert abs(long.train.warmup_epochs / long.train.epochs - base.train.warmup_epochs / base.train.epochs) < 0.01
        assert long.augment == base.augment and long.distill == base.distill
        assert plan_for(long.augment, 873).digest() == plan_for(base.augment, 873).digest()
