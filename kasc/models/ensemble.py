"""An ensemble of teachers (the report's Table 2 "Ensemble"): its soft targets.

The ensemble averages the members' class probabilities (weights configurable). We average
probabilities rather than logits because the teachers are trained separately and their
logits have different scales (a confident MobileNetV2 would dominate a logit average),
while a probability average is a proper mixture whose log loss is defined. For
distillation at temperature T, ``tempered_average`` averages each member's
softmax(logits / T) in the same way.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from keras import ops


def tempered_average(member_logits: Sequence, temperature: float = 1.0, weights: Sequence[float] | None = None):
    """Weighted average of softmax(z_k / T) over members' logits z_k, each (batch, classes).

    Works on tensors and numpy arrays (returns a tensor). These are the soft targets of
    distillation (``kasc.training.distill``) and, at T = 1, the ensemble's probabilities.
    """
    weights = list(weights) if weights else [1.0] * len(member_logits)
    if len(weights) != len(member_logits):
        raise ValueError(f"distill.teacher_weights: {len(weights)} weights for {len(member_logits)} teachers")
    total = float(sum(weights))
    return sum(w / total * ops.softmax(ops.convert_to_tensor(z, "float32") / temperature, axis=-1)
               for w, z in zip(weights, member_logits))


def average_probabilities(member_probabilities: Sequence, weights: Sequence[float] | None = None) -> np.ndarray:
    """The ensemble's probabilities (n, C) from its members' (each (n, C)): their weighted
    average (:func:`tempered_average` at T = 1 of their log-probabilities), as numpy."""
    return np.asarray(tempered_average([np.log(np.clip(p, 1e-12, 1.0)) for p in member_probabilities], 1.0, weights))
