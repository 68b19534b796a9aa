"""The multi-teacher Distiller: a Keras model that trains a student on hard labels and
the soft targets of an ensemble of frozen teachers (report section 3, after Hinton et al.).

    loss = lambda * CE(y, softmax(z_s)) + (1 - lambda) * T^2 * KL(p_T || softmax(z_s / T))

with z_s the student's logits, y the (mixed-up) one-hot labels and p_T the teachers'
ensemble at temperature T: the weighted average of softmax(z_k / T) over teachers k
(``kasc.models.ensemble.tempered_average``). The T^2 factor keeps the soft-target gradients on the scale of
the label gradients when T changes (Hinton et al., section 2).

Soft targets come either with the batch, as ``targets["soft_targets"]`` (cached teacher
outputs carried through the pipeline and mixed up with the inputs' lambda), or from the
teachers themselves, run on the batch the student sees (online). With neither, the
Distiller trains the student on the labels alone (lambda is then taken as 1), so plain
and distilled training share one loop and one set of metric names.

Metrics (each a named ``keras.metrics.Mean``, so the CSV log and TensorBoard get them
without extra code): ``label_loss``, ``distillation_loss``, ``loss`` (the total) and
``accuracy`` (against the label with the largest weight). Validation reports
``label_loss`` and ``loss`` (both the cross-entropy of the labels, i.e. the log loss)
and ``accuracy``.

Only the student is saved for use (``distiller.student``); the Distiller is a training
device and is checkpointed with ``save_weights`` (student, teachers and optimiser).
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from keras import ops

from kasc.evaluation.inference import in_multi_worker_mode
from kasc.models.blocks import logits_model
from kasc.models.ensemble import tempered_average
from kasc.data.batch_keys import LABELS, SOFT_TARGETS



def label_cross_entropy(labels, logits):
    """Per-clip cross-entropy -sum_c y_c log softmax(z)_c; labels (batch, C) may be mixed."""
    return -ops.sum(labels * ops.log_softmax(logits, axis=-1), axis=-1)


def distillation_kl(soft_targets, logits, temperature: float):
    """Per-clip T^2 * KL(soft_targets || softmax(logits / T)); soft_targets (batch, C)."""
    log_student = ops.log_softmax(logits / temperature, axis=-1)
    safe = ops.where(soft_targets > 0, soft_targets, 1.0)
    kl = ops.sum(ops.where(soft_targets > 0, soft_targets * (ops.log(safe) - log_student), 0.0), axis=-1)
    return temperature**2 * kl


def scale_loss_for_replicas(loss):
    """``loss`` / the number of replicas in sync (1 outside ``tf.distribute``), as Keras'
    own ``compute_loss`` scales it."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * (1.0 / replicas)


class Distiller(keras.Model):
    """Trains ``student`` from labels and the soft targets of ``teachers``.

    Targets are a dict (``kasc.data.batch_keys``): ``{LABELS: one-hot (batch, C)}`` plus
    ``SOFT_TARGETS`` (batch, C) when the soft targets were computed ahead, as
    ``kasc.data.pipeline`` yields them; ``fit(x, {LABELS: y})`` with arrays works too.

    Args:
      student: a kasc model (input log-mel (batch, frames, mels, 1), a layer named
        ``logits``, output ``probabilities``).
      teachers: frozen teacher models for online soft targets (may be empty: cached
        targets or plain training). Their weights are never updated.
      teacher_weights: ensemble weights of the teachers (empty: equal).
      temperature: distillation temperature T > 0.
      label_weight: lambda in [0, 1], the weight of the label loss.
    """

    def __init__(self, student: keras.Model, teachers: Sequence[keras.Model] = (),
                 teacher_weights: Sequence[float] = (), temperature: float = 2.0,
                 label_weight: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"distill.temperature must be > 0, got {temperature}")
        if not 0.0 <= label_weight <= 1.0:
            raise ValueError(f"distill.label_weight must be in [0, 1], got {label_weight}")
        if teacher_weights and len(teacher_weights) != len(teachers):
            raise ValueError(f"distill.teacher_weights: {len(teacher_weights)} weights for {len(teachers)} teachers")
        self.student = student
        self.student_logits = logits_model(student)
        self.teachers = list(teachers)
        for teacher in self.teachers:
            teacher.trainable = False
        self.teacher_logits = [logits_model(t) for t in self.teachers]
        self.teacher_weights = [float(w) for w in teacher_weights]
        self.temperature = float(temperature)
        self.label_weight = float(label_weight)
        self.label_loss_tracker = keras.metrics.Mean(name="label_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.CategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.label_loss_tracker, self.distillation_loss_tracker,
                self.accuracy_tracker]

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def soft_targets(self, x, targets):
        """The batch's soft targets (batch, C): carried (cached) or from the teachers, else None."""
        if SOFT_TARGETS in targets:
            return targets[SOFT_TARGETS]
        if self.teachers:
            logits = [model(x, training=False) for model in self.teacher_logits]
            return ops.stop_gradient(tempered_average(logits, self.temperature, self.teacher_weights))
        return None

    def compute_loss_terms(self, labels, logits, soft_targets):
        """(label_loss, distillation_loss, total), each the batch mean; no soft targets
        means distillation_loss 0 and total = label_loss."""
        label_loss = ops.mean(label_cross_entropy(labels, logits))
        if soft_targets is None:
            return label_loss, ops.zeros_like(label_loss), label_loss
        kd_loss = ops.mean(distillation_kl(soft_targets, logits, self.temperature))
        total = self.label_weight * label_loss + (1.0 - self.label_weight) * kd_loss
        return label_loss, kd_loss, total

    def _record(self, labels, logits, label_loss, kd_loss, total):
        self.label_loss_tracker.update_state(label_loss)
        self.distillation_loss_tracker.update_state(kd_loss)
        self.total_loss_tracker.update_state(total)
        self.accuracy_tracker.update_state(labels, logits)

    @staticmethod
    def _unpack(data):
        x, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not isinstance(targets, dict) or LABELS not in targets:
            raise TypeError(f"Distiller targets must be a dict with the one-hot labels under '{LABELS}' "
                            f"(kasc.data.batch_keys.LABELS), got {type(targets).__name__}")
        return x, targets

    def train_step(self, data):
        x, targets = self._unpack(data)
        labels = targets[LABELS]
        soft = self.soft_targets(x, targets)
        student_vars = self.student.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.student_logits(x, training=True)
            label_loss, kd_loss, total = self.compute_loss_terms(labels, logits, soft)
            regularisation = sum(self.student.losses) if self.student.losses else 0.0
            # under a strategy of N replicas the gradients of the N replica batches are summed:
            # each replica's mean loss / N makes that the gradient of the global batch's mean
            objective = scale_loss_for_replicas(total + regularisation)
            # mixed_float16: the LossScaleOptimizer's dynamic loss scale (identity otherwise);
            # its apply() unscales the gradients
            objective = self.optimizer.scale_loss(objective)
        grads = tape.gradient(objective, student_vars)
        self.optimizer.apply(grads, student_vars)
        self._record(labels, logits, label_loss, kd_loss, total)
        return self._logs(self.metrics)

    def test_step(self, data):
        x, targets = self._unpack(data)
        labels = targets[LABELS]
        logits = self.student_logits(x, training=False)
        label_loss = ops.mean(label_cross_entropy(labels, logits))
        self.label_loss_tracker.update_state(label_loss)
        self.total_loss_tracker.update_state(label_loss)
        self.accuracy_tracker.update_state(labels, logits)
        return self._logs((self.total_loss_tracker, self.label_loss_tracker, self.accuracy_tracker))

    @staticmethod
    def _logs(metrics) -> dict:
        """The step's logs. Under several workers Keras averages them with
        ``strategy.reduce("MEAN", value, axis=0)``, which needs an axis: each is then (1,)."""
        logs = {m.name: m.result() for m in metrics}
        if in_multi_worker_mode(tf.distribute.get_strategy()):
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras builds a model from a first batch it averages across replicas, which
        fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585);
        :meth:`build_for_training` has built everything that would build."""
        if self.built and (self.optimizer is None or self.optimizer.built):
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def build_for_training(self, input_shape) -> None:
        """Create the optimiser's slots before weights are loaded into it (resume)."""
        if not self.built:
            self(ops.zeros((1,) + tuple(d or 28 for d in input_shape)))
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.student.trainable_variables)
