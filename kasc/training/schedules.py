"""The report's learning-rate schedule (section 4.2) as a per-step Keras schedule.

"For the first 300 epochs the learning rate is exponentially increased to 0.001, followed
by a linear decrease to 1e-5 until epoch 800." The report does not say where the
exponential ramp starts. kasc uses the ramp of the RFR-CNN code base the student comes
from (CP-JKU's ``exp_warmup_linear_down``, after Laine and Aila's exp(-5 (1 - t)^2)
ramp-up), evaluated on fractional epochs so that it changes every step:

    e < warmup:              peak * exp(-5 * (1 - max(e, 0.5) / warmup)^2)
    warmup <= e < decay_end: final + (peak - final) * (decay_end - e) / (decay_end - warmup)
    e >= decay_end:          final

so epoch 0 starts at 0.67 % of the peak, epoch 150 is at 28.7 % and epoch 300 at the peak.
"""

from __future__ import annotations

import weakref

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="kasc")
class ExpWarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential warm-up then linear decay, per optimiser step.

    Args:
      steps_per_epoch: optimiser steps in one epoch (turns steps into fractional epochs).
      peak_learning_rate: learning rate at the end of the warm-up.
      warmup_epochs: length of the warm-up in epochs (0: no warm-up).
      decay_end_epoch: epoch at which the rate reaches ``final_learning_rate``.
      final_learning_rate: rate from ``decay_end_epoch`` on.
    """

    def __init__(self, steps_per_epoch: int, peak_learning_rate: float = 1e-3, warmup_epochs: float = 300.0,
                 decay_end_epoch: float = 800.0, final_learning_rate: float = 1e-5):
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        if warmup_epochs < 0 or decay_end_epoch < warmup_epochs:
            raise ValueError(f"train.warmup_epochs / train.decay_end_epoch: need 0 <= warmup <= decay end, "
                             f"got {warmup_epochs}, {decay_end_epoch}")
        if not 0 < final_learning_rate <= peak_learning_rate:
            raise ValueError(f"train.final_learning_rate must be in (0, learning_rate], got {final_learning_rate}")
        self.steps_per_epoch = int(steps_per_epoch)
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_epochs = float(warmup_epochs)
        self.decay_end_epoch = float(decay_end_epoch)
        self.final_learning_rate = float(final_learning_rate)

    def at_epoch(self, epoch):
        """Learning rate at a (fractional) epoch; works on floats and tensors."""
        epoch = ops.cast(epoch, "float32")
        peak, final = self.peak_learning_rate, self.final_learning_rate
        if self.warmup_epochs > 0:
            phase = 1.0 - ops.clip(epoch, 0.5, self.warmup_epochs) / self.warmup_epochs
            warm = peak * ops.exp(-5.0 * phase * phase)
        else:
            warm = ops.convert_to_tensor(peak, "float32")
        decay_length = max(self.decay_end_epoch - self.warmup_epochs, 1e-9)
        remaining = ops.clip((self.decay_end_epoch - epoch) / decay_length, 0.0, 1.0)
        decay = final + (peak - final) * remaining
        return ops.where(epoch < self.warmup_epochs, warm, decay)

    def __call__(self, step):
        """Learning rate at optimiser step ``step``.

        Keras' optimiser asks once per variable in a step (weight decay), so a traced step
        would hold one copy of this schedule's ops per variable (a few seconds of tracing
        for SERFR-CNN's 83 variables). While a step is traced, the first rate of a graph is
        reused for the same ``step`` variable: every ask of one step comes before the step
        count moves on, so they read the same value. Eager calls compute it each time.
        """
        if tf.executing_eagerly():
            return self.at_epoch(ops.cast(step, "float32") / self.steps_per_epoch)
        traced = self.__dict__.setdefault("_traced_rates", weakref.WeakKeyDictionary())
        graph = tf.compat.v1.get_default_graph()
        rates = traced.setdefault(graph, {})
        if id(step) not in rates:
            rates[id(step)] = (step, self.at_epoch(ops.cast(step, "float32") / self.steps_per_epoch))
        return rates[id(step)][1]

    def get_config(self):
        return {
            "steps_per_epoch": self.steps_per_epoch,
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_epochs": self.warmup_epochs,
            "decay_end_epoch": self.decay_end_epoch,
            "final_learning_rate": self.final_learning_rate,
        }



def fitted_to_run(epochs: int, warmup_epochs: float, decay_end_epoch: float) -> tuple[float, float, str]:
    """(warm-up epochs, decay end epoch, note) of a run of ``epochs`` epochs.

    A run that ends before its warm-up does (``--set train.epochs=5`` on a config with the
    report's 300-epoch warm-up) would never leave the first percent of the learning rate;
    its schedule is scaled to the run's length instead: both epochs multiplied by
    epochs / decay_end_epoch, so the warm-up keeps its share of the run and the decay ends
    with the run. The note says so (empty when the schedule is kept as configured).
    """
    if epochs >= warmup_epochs or decay_end_epoch <= 0:
        return warmup_epochs, decay_end_epoch, ""
    scale = epochs / decay_end_epoch
    warmup, decay_end = warmup_epochs * scale, float(epochs)
    return warmup, decay_end, (f"train.epochs {epochs} ends before the warm-up of {warmup_epochs:g} epochs: the "
                               f"schedule is scaled to the run (warm-up {warmup:g}, linear decay to epoch "
                               f"{decay_end:g}, x {scale:.3g} of warmup_epochs / decay_end_epoch)")
