"""An ensemble of teachers (the report's Table 2 "Ensemble").

The ensemble averages the members' class probabilities (weights configurable). We average
probabilities rather than logits because the teachers are trained separately and their
logits have different scales (a confident MobileNetV2 would dominate a logit average),
while a probability average is a proper mixture whose log loss is defined. For
distillation at temperature T, ``tempered_average`` averages each member's
softmax(logits / T) in the same way.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers, ops

from kasc.models.blocks import logits_model


@keras.saving.register_keras_serializable(package="kasc")
class WeightedAverage(layers.Layer):
    """Weighted average of same-shape inputs; weights are normalised to sum to 1."""

    def __init__(self, weights: Sequence[float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.member_weights = [float(w) for w in weights] if weights is not None else None

    def call(self, inputs):
        weights = self.member_weights or [1.0] * len(inputs)
        if len(weights) != len(inputs):
            raise ValueError(f"{self.name}: {len(weights)} weights for {len(inputs)} members")
        total = sum(weights)
        return sum(w / total * x for w, x in zip(weights, inputs))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "weights": self.member_weights}


def build_ensemble(members: Sequence[keras.Model], weights: Sequence[float] | None = None,
                   name: str = "ensemble") -> keras.Model:
    """A model averaging the probabilities of ``members`` (which share one input shape).

    Each member keeps its name inside the ensemble, so the ensemble's summary lists them.
    """
    if not members:
        raise ValueError("an ensemble needs at least one member")
    inputs = keras.Input(shape=members[0].input_shape[1:], name="logmel")
    outputs = [member(inputs) for member in members]
    averaged = outputs[0] if len(outputs) == 1 else WeightedAverage(weights, name="average")(outputs)
    return keras.Model(inputs, averaged, name=name)


def tempered_average(member_logits: Sequence, temperature: float = 1.0, weights: Sequence[float] | None = None):
    """Weighted average of softmax(z_k / T) over members' logits z_k, each (batch, classes).

    Works on tensors and numpy arrays (returns a tensor). These are the soft targets of
    distillation (``kasc.distill``) and, at T = 1, the ensemble's probabilities.
    """
    weights = list(weights) if weights else [1.0] * len(member_logits)
    if len(weights) != len(member_logits):
        raise ValueError(f"distill.teacher_weights: {len(weights)} weights for {len(member_logits)} teachers")
    total = float(sum(weights))
    return sum(w / total * ops.softmax(ops.convert_to_tensor(z, "float32") / temperature, axis=-1)
               for w, z in zip(weights, member_logits))


def ensemble_soft_targets(members: Sequence[keras.Model], x, temperature: float = 1.0,
                          weights: Sequence[float] | None = None):
    """Soft targets of ``members`` on the batch ``x``: (batch, classes)."""
    return tempered_average([logits_model(m)(x, training=False) for m in members], temperature, weights)
