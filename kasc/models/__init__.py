"""Networks: the student SERFR-CNN, the teachers, the DCASE 2023 baseline and ensembles.

``build_model(architecture, input_shape, n_classes, **params)`` looks a builder up by name.
"""

from __future__ import annotations

import keras

from kasc.models.baseline import build_dcase2023_baseline
from kasc.models.blocks import logits_model
from kasc.models.serfr_cnn import build_serfr_cnn
from kasc.models.efficientat import build_efficientat_mn
from kasc.models.pretrained import load_pretrained
from kasc.models.saved import load_model
from kasc.models.teachers import build_bc_resnet, build_cnn_teacher, build_mobilenetv2

BUILDERS = {
    "serfr_cnn": build_serfr_cnn,
    "mobilenetv2": build_mobilenetv2,
    "cnn_teacher": build_cnn_teacher,
    "bc_resnet": build_bc_resnet,
    "efficientat_mn": build_efficientat_mn,
    "dcase2023_baseline": build_dcase2023_baseline,
}

# Networks that flatten their features and so need a fixed frame count.
FIXED_INPUT_ARCHITECTURES = frozenset({"dcase2023_baseline"})


def build_model(architecture: str, input_shape, n_classes: int, **params) -> keras.Model:
    """Build a registered network (see ``BUILDERS``); ``params`` go to its builder."""
    if architecture not in BUILDERS:
        raise ValueError(f"model.architecture: unknown model '{architecture}' (known: {', '.join(sorted(BUILDERS))})")
    return BUILDERS[architecture](input_shape=tuple(input_shape), n_classes=n_classes, **params)


__all__ = ["BUILDERS", "FIXED_INPUT_ARCHITECTURES", "build_model", "load_model", "logits_model",
           "load_pretrained"]
