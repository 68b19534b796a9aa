"""The multi-teacher Distiller: loss arithmetic, frozen teachers, metrics, soft-target modes."""

import keras
import numpy as np
import pytest

from kasc.training.distill import Distiller, distillation_kl, label_cross_entropy
from kasc.data.batch_keys import LABELS, SOFT_TARGETS
from kasc.models import build_model, logits_model
from kasc.models.ensemble import tempered_average

SHAPE = (12, 16, 1)


def _softmax(z, t=1.0):
    e = np.exp((z - z.max(-1, keepdims=True)) / t)
    return e / e.sum(-1, keepdims=True)


def _tiny(name, seed):
    keras.utils.set_random_seed(seed)
    return build_model("serfr_cnn", (None, 16, 1), 3, width=4, head_channels=8, name=name)


def test_loss_terms_on_fixed_logits():
    student = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]], np.float32)
    teacher_a = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]], np.float32)
    teacher_b = np.array([[3.0, 1.0, -2.0], [1.0, 1.0, 1.0]], np.float32)
    labels = np.array([[1.0, 0.0, 0.0], [0.0, 0.3, 0.7]], np.float32)  # the second one mixed up
    t, lam, weights = 2.0, 0.25, (1.0, 3.0)

    soft = 0.25 * _softmax(teacher_a, t) + 0.75 * _softmax(teacher_b, t)
    np.testing.assert_allclose(tempered_average([teacher_a, teacher_b], t, weights), soft, rtol=1e-6)
    ce = -(labels * np.log(_softmax(student))).sum(-1)
    kl = t * t * (soft * (np.log(soft) - np.log(_softmax(student, t)))).sum(-1)
    np.testing.assert_allclose(label_cross_entropy(labels, student), ce, rtol=1e-5)
    np.testing.assert_allclose(distillation_kl(soft, student, t), kl, rtol=1e-5)

    distiller = Distiller(_tiny("s", 0), temperature=t, label_weight=lam)
    label_loss, kd_loss, total = distiller.compute_loss_terms(labels, student, soft)
    assert float(label_loss) == pytest.approx(ce.mean(), rel=1e-5)
    assert float(kd_loss) == pytest.approx(kl.mean(), rel=1e-5)
    assert float(total) == pytest.approx(lam * ce.mean() + (1 - lam) * kl.mean(), rel=1e-5)
    # KL of a distribution with itself is zero; a zero soft target contributes nothing
    assert float(distillation_kl(_softmax(student, t), student, t)[0]) == pytest.approx(0.0, abs=1e-6)
    assert np.isfinite(distillation_kl(np.array([[1.0, 0.0, 0.0]], np.float32), student[:1], t)).all()


def _batches(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + SHAPE).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return x, y


def test_teachers_stay_frozen_and_metrics_are_named():
    teachers = [_tiny("teacher_a", 1), _tiny("teacher_b", 2)]
    before = [[w.copy() for w in t.get_weights()] for t in teachers]
    student = _tiny("student", 3)
    student_before = [w.copy() for w in student.get_weights()]
    distiller = Distiller(student, teachers, temperature=3.0, label_weight=0.5)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2, weight_decay=1e-3), run_eagerly=True)  # tiny shapes: eager beats tracing
    x, y = _batches()
    history = distiller.fit(x, {LABELS: y}, batch_size=8, epochs=2, validation_data=(x, {LABELS: y}), verbose=0)
    for teacher, weights in zip(teachers, before):
        for now, then in zip(teacher.get_weights(), weights):
            np.testing.assert_array_equal(now, then)  # BN statistics included: teachers run in inference mode
    assert any(np.abs(a - b).max() > 0 for a, b in zip(student.get_weights(), student_before))
    assert {"loss", "label_loss", "distillation_loss", "accuracy",
            "val_loss", "val_label_loss", "val_accuracy"} <= set(history.history)
    assert all(v > 0 for v in history.history["distillation_loss"])
    total = np.array(history.history["loss"])
    assert np.all(np.abs(total - 0.5 * np.array(history.history["label_loss"])
                         - 0.5 * np.array(history.history["distillation_loss"])) < 1e-4)


def test_without_teachers_it_trains_on_labels_only():
    distiller = Distiller(_tiny("student", 4), label_weight=0.3)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)  # tiny shapes: eager beats tracing
    x, y = _batches()
    logs = distiller.fit(x, {LABELS: y}, batch_size=8, epochs=1, verbose=0).history
    assert logs["distillation_loss"] == [0.0]
    assert logs["loss"][0] == pytest.approx(logs["label_loss"][0])


def test_cached_and_online_soft_targets_agree_without_augmentation():
    teachers = [_tiny("teacher_a", 1), _tiny("teacher_b", 2)]
    x, y = _batches(8)
    logits = [np.asarray(logits_model(t)(x)) for t in teachers]
    cached = np.asarray(tempered_average(logits, 2.0, (2.0, 1.0)))
    results = {}
    for mode in ("online", "cached"):
        student = _tiny("student", 5)  # the same initial weights both times
        distiller = Distiller(student, teachers if mode == "online" else (), (2.0, 1.0) if mode == "online" else (),
                              temperature=2.0, label_weight=0.4)
        distiller.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)  # tiny shapes: eager beats tracing
        targets = {LABELS: y} if mode == "online" else {LABELS: y, SOFT_TARGETS: cached}
        logs = distiller.train_on_batch(x, targets, return_dict=True)
        results[mode] = (logs, student.get_weights())
    for key in ("loss", "label_loss", "distillation_loss"):
        assert results["online"][0][key] == pytest.approx(results["cached"][0][key], rel=1e-5)
    for a, b in zip(results["online"][1], results["cached"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="distill.temperature"):
        Distiller(_tiny("s", 0), temperature=0.0)
    with pytest.raises(ValueError, match="distill.label_weight"):
        Distiller(_tiny("s", 0), label_weight=1.5)
    with pytest.raises(ValueError, match="distill.teacher_weights"):
        Distiller(_tiny("s", 0), [_tiny("t", 1)], teacher_weights=(1.0, 2.0))


def test_nan_guard_stops_and_says_where():
    from kasc.training.callbacks import NanGuard

    distiller = Distiller(_tiny("student", 6))
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # tiny shapes: eager beats tracing
    x, y = _batches(16)
    x[9] = np.nan  # the second batch of 8
    guard = NanGuard()
    distiller.fit(x, {LABELS: y}, batch_size=8, epochs=3, shuffle=False, callbacks=[guard], verbose=0)
    assert guard.where is not None and guard.where["epoch"] == 1 and guard.where["batch"] == 2
    assert distiller.diverged


def test_nan_guard_catches_a_non_finite_validation_loss_before_the_checkpoint(tmp_path):
    """Training stays finite, validation does not (as on oneDNN when a network diverges):
    the run stops at the end of that epoch and the checkpoint is not written."""
    from kasc.training.callbacks import EpochCheckpoint, NanGuard
    from kasc.files.runs import RunDir

    distiller = Distiller(_tiny("student", 8))
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    x, y = _batches(16)
    bad_x = x.copy()
    bad_x[0] = np.inf
    run = RunDir(tmp_path / "run")
    guard = NanGuard()
    distiller.fit(x, {LABELS: y}, batch_size=8, epochs=3, shuffle=False, verbose=0,
                  validation_data=(bad_x, {LABELS: y}), callbacks=[guard, EpochCheckpoint(run)])
    assert guard.where["epoch"] == 1 and guard.where["batch"] is None
    names = {part.split(" = ")[0] for part in guard.where["what"].removeprefix("non-finite ").split("; ")}
    assert "val_loss" in names and not names & {"loss", "label_loss"}  # training stayed finite
    assert not run.weights.exists() and run.state().get("epoch", 0) == 0


def test_targets_must_be_the_pipeline_dict():
    distiller = Distiller(_tiny("student", 7))
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    x, y = _batches(8)
    with pytest.raises(TypeError, match="dict with the one-hot labels under 'label'"):
        distiller.train_on_batch(x, y)
