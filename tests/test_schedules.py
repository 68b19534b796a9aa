"""The report's learning-rate schedule (section 4.2)."""

import math

import keras
import numpy as np
import pytest

from kasc.training.schedules import ExpWarmupLinearDecay


def test_curve_at_report_epochs():
    schedule = ExpWarmupLinearDecay(steps_per_epoch=10)  # peak 1e-3, warm-up 300, end 800, final 1e-5
    lr = lambda epoch: float(schedule(epoch * 10))
    assert lr(0) == pytest.approx(1e-3 * math.exp(-5 * (1 - 0.5 / 300) ** 2), rel=1e-5)  # 6.7e-6
    assert lr(150) == pytest.approx(1e-3 * math.exp(-5 * 0.25), rel=1e-5)  # exponential ramp: 2.87e-4
    assert lr(300) == pytest.approx(1e-3, rel=1e-6)  # the peak
    assert lr(550) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5, rel=1e-5)  # halfway down the line
    assert lr(800) == pytest.approx(1e-5, rel=1e-5)
    assert lr(900) == pytest.approx(1e-5, rel=1e-5)  # stays at the final rate


def test_changes_every_step_and_is_monotone_in_each_phase():
    schedule = ExpWarmupLinearDecay(steps_per_epoch=4, warmup_epochs=3, decay_end_epoch=6)
    values = np.array([float(schedule(step)) for step in range(0, 25)])
    warm, decay = values[2:12], values[12:24]
    assert np.all(np.diff(warm) > 0) and np.all(np.diff(decay) < 0)
    assert values[12] == pytest.approx(1e-3)


def test_get_config_round_trip_and_optimizer_serialisation():
    schedule = ExpWarmupLinearDecay(7, 2e-3, 10, 20, 1e-4)
    clone = ExpWarmupLinearDecay.from_config(schedule.get_config())
    for step in (0, 35, 70, 105, 140, 200):
        assert float(clone(step)) == pytest.approx(float(schedule(step)))
    optimizer = keras.optimizers.Adam(learning_rate=schedule, weight_decay=1e-3)
    restored = keras.optimizers.Adam.from_config(optimizer.get_config())
    assert float(restored.learning_rate) == pytest.approx(float(schedule(0)))
    assert restored.weight_decay == pytest.approx(1e-3)


@pytest.mark.parametrize("kwargs, field", [
    ({"steps_per_epoch": 0}, "steps_per_epoch"),
    ({"steps_per_epoch": 1, "warmup_epochs": 10, "decay_end_epoch": 5}, "warmup_epochs"),
    ({"steps_per_epoch": 1, "final_learning_rate": 1.0}, "final_learning_rate"),
])
def test_bad_settings_are_named(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ExpWarmupLinearDecay(**kwargs)


def test_a_run_shorter_than_its_warm_up_gets_the_schedule_scaled_to_it():
    from kasc.training.schedules import fitted_to_run

    warmup, decay_end, note = fitted_to_run(8, 300.0, 800.0)
    assert (warmup, decay_end) == (3.0, 8.0) and "scaled to the run" in note and "warm-up 3" in note
    assert fitted_to_run(800, 300.0, 800.0) == (300.0, 800.0, "")
    assert fitted_to_run(500, 300.0, 800.0) == (300.0, 800.0, "")  # past the warm-up: kept as configured
    schedule = ExpWarmupLinearDecay(1, 1e-3, warmup, decay_end, 1e-5)
    assert float(schedule.at_epoch(3.0)) == pytest.approx(1e-3)  # the peak is reached within the run


def test_a_traced_step_builds_the_rate_once_and_trains_as_a_schedule_that_does_not():
    """Keras asks the rate once per variable in a step; a traced step holds one copy of the
    schedule's ops, and training follows the same rates as recomputing them every time."""
    import tensorflow as tf
    from keras import ops

    schedule = ExpWarmupLinearDecay(2, 1e-2, 1, 4)
    step = tf.Variable(3, dtype=tf.int64)

    @tf.function
    def asked_three_times():
        return schedule(step), schedule(step), schedule(step)

    graph = asked_three_times.get_concrete_function().graph
    assert sum(op.type == "Exp" for op in graph.get_operations()) == 1
    assert [float(v) for v in asked_three_times()] == [pytest.approx(float(schedule(3)))] * 3
    step.assign(5)  # the traced function reads the step when it runs, not when it was traced
    assert float(asked_three_times()[0]) == pytest.approx(float(schedule(5))) != pytest.approx(float(schedule(3)))

    class RecomputedEveryTime(ExpWarmupLinearDecay):
        def __call__(self, step):
            return self.at_epoch(ops.cast(step, "float32") / self.steps_per_epoch)

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    trained = []
    for kind in (ExpWarmupLinearDecay, RecomputedEveryTime):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
        model.compile(keras.optimizers.Adam(kind(2, 1e-2, 1, 4), weight_decay=0.1), "mse")
        model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False)
        trained.append(model.get_weights())
    for ours, reference in zip(*trained):
        np.testing.assert_allclose(ours, reference, rtol=1e-6)
