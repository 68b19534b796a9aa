"""Custom Keras layers (one class each, with ``get_config`` for ``.keras`` round trips)."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kasc")
class SubSpectralNorm(layers.Layer):
    """Sub-spectral normalisation (Chang et al., used by BC-ResNet): the frequency axis is
    cut into ``sub_bands`` equal bands and every (band, channel) pair gets its own batch
    normalisation statistics and affine parameters.

    Input and output: (batch, frames, mels, channels); mels must be divisible by
    ``sub_bands``.
    """

    def __init__(self, sub_bands: int = 4, epsilon: float = 1e-3, momentum: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.sub_bands = int(sub_bands)
        self.epsilon = epsilon
        self.momentum = momentum
        self.norm = layers.BatchNormalization(epsilon=epsilon, momentum=momentum, name="bn")

    def build(self, input_shape):
        mels, channels = input_shape[2], input_shape[3]
        if mels is None or mels % self.sub_bands:
            raise ValueError(f"{self.name}: {mels} mel bands are not divisible into {self.sub_bands} sub-bands")
        self.norm.build((None, None, mels // self.sub_bands, self.sub_bands * channels))

    def call(self, x, training=None):
        shape = ops.shape(x)
        mels, channels = x.shape[2], x.shape[3]
        band = mels // self.sub_bands
        # (B, T, S, band, C) -> (B, T, band, S, C) -> (B, T, band, S * C)
        y = ops.reshape(x, (shape[0], shape[1], self.sub_bands, band, channels))
        y = ops.transpose(y, (0, 1, 3, 2, 4))
        y = ops.reshape(y, (shape[0], shape[1], band, self.sub_bands * channels))
        y = self.norm(y, training=training)
        y = ops.reshape(y, (shape[0], shape[1], band, self.sub_bands, channels))
        y = ops.transpose(y, (0, 1, 3, 2, 4))
        return ops.reshape(y, (shape[0], shape[1], mels, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sub_bands": self.sub_bands, "epsilon": self.epsilon,
                "momentum": self.momentum}


@keras.saving.register_keras_serializable(package="kasc")
class FrequencyMean(layers.Layer):
    """Average over the mel axis, keeping it: (batch, frames, mels, C) -> (batch, frames, 1, C)."""

    def call(self, x):
        return ops.mean(x, axis=2, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 1, input_shape[3])
