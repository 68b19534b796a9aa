"""Functional building blocks shared by the networks. Every layer gets a systematic name
``<prefix>_<role>`` so that a model's layers can be read off ``model.summary()`` and the
complexity table.

Tensors are (batch, frames, mels, channels) throughout.
"""

from __future__ import annotations

import keras
from keras import layers

from kasc.models.layers import FusedBatchNormalization

# BatchNormalization's moving-average momentum: PyTorch's default (0.1 update, i.e. 0.9 in
# Keras' convention), as in the CP-JKU RFR-CNN code the student descends from. Keras'
# default 0.99 needs hundreds of steps before inference statistics are usable.
BN_MOMENTUM = 0.9


def batch_norm(name: str) -> layers.Layer:
    """The batch normalisation of every kasc network: momentum ``BN_MOMENTUM``, computed
    by TensorFlow's fused kernel (``FusedBatchNormalization``)."""
    return FusedBatchNormalization(momentum=BN_MOMENTUM, name=name)


def conv_bn_relu(x, filters: int, kernel, name: str, strides=1, relu: bool = True, use_bias: bool = False):
    """Conv2D ('same' padding, no bias) -> BatchNorm -> ReLU (optional).

    Layers: ``<name>_conv``, ``<name>_bn``, ``<name>_relu``.
    """
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=use_bias,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def squeeze_excite(x, name: str, reduction: int = 4):
    """Squeeze-and-excitation (Hu et al.): channel weights from global average pooling,
    a bottleneck of channels // reduction and a sigmoid gate.

    Written with 1x1 convolutions on a (1, 1, C) tensor so that it converts to static
    TFLite ops (MEAN, CONV_2D, LOGISTIC, MUL). Layers ``<name>_squeeze``, ``<name>_reduce``,
    ``<name>_expand``, ``<name>_scale``.
    """
    channels = x.shape[-1]
    hidden = max(1, channels // reduction)
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(hidden, 1, activation="relu", name=f"{name}_reduce")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def classifier_head(x, n_classes: int, name: str = "head", dropout: float = 0.0):
    """Global average pooling -> (dropout) -> Dense logits -> softmax.

    The logits layer is always named ``logits`` and the output ``probabilities``, so that
    distillation can take the logits of any kasc model (``logits_model``).
    """
    x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return logits_and_probabilities(x, n_classes)


def logits_and_probabilities(x, n_classes: int):
    """Dense ``logits`` -> softmax ``probabilities``, both computed in float32 whatever the
    mixed-precision policy (``train.mixed_precision``), so that the losses are float32."""
    x = layers.Dense(n_classes, name="logits", dtype="float32")(x)
    return layers.Softmax(name="probabilities", dtype="float32")(x)


def logits_model(model: keras.Model) -> keras.Model:
    """A model sharing ``model``'s weights whose output is its ``logits`` layer.

    Its input keeps ``model``'s input structure (a single tensor, not a one-element list),
    so that calling it on a tensor matches what Keras expects without a warning."""
    return keras.Model(model.input, model.get_layer("logits").output, name=f"{model.name}_logits")
