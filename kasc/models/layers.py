"""Custom Keras layers (one class each, with ``get_config`` for ``.keras`` round trips)."""

from __future__ import annotations

import keras
from keras import layers, ops
import tensorflow as tf


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
        self.norm = FusedBatchNormalization(epsilon=epsilon, momentum=momentum, name="bn")

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


@keras.saving.register_keras_serializable(package="kasc")
class FrequencyDepthwiseConv2D(layers.DepthwiseConv2D):
    """A depthwise convolution along the mel axis only, with a stride along mels only:
    kernel (1, k), strides (1, s) on (batch, frames, mels, channels).

    Written so that it runs on every CPU kernel library: TensorFlow's Eigen kernels (the
    default on CPUs without AVX-512) refuse depthwise convolutions with unequal strides
    such as (1, 2); oneDNN accepts them. Frames are folded into the batch, so the
    convolution sees (batch * frames, 1, mels, channels) with equal strides (s, s); on an
    axis of length 1 with a kernel of height 1 a stride does nothing. Weights (kernel
    (1, k, channels, multiplier)), outputs, parameters and MACs are those of
    ``DepthwiseConv2D((1, k), strides=(1, s), padding="same")``, which is also how the
    complexity audit counts it (it is a ``DepthwiseConv2D``).
    """

    def __init__(self, kernel_size=3, strides=1, **kwargs):
        kernel_size = kernel_size[1] if isinstance(kernel_size, (tuple, list)) else int(kernel_size)
        strides = strides[1] if isinstance(strides, (tuple, list)) else int(strides)
        kwargs.setdefault("padding", "same")
        if kwargs["padding"] != "same":
            raise ValueError(f"{type(self).__name__}: only padding='same' is supported, got {kwargs['padding']!r}")
        super().__init__(kernel_size=(1, kernel_size), strides=(1, strides), **kwargs)

    def call(self, inputs):
        shape = ops.shape(inputs)
        folded = ops.reshape(inputs, (-1, 1, shape[2], inputs.shape[3]))  # (B * T, 1, F, C)
        stride = self.strides[1]
        outputs = ops.depthwise_conv(folded, self.kernel, strides=(stride, stride), padding="same",
                                     data_format=self.data_format)
        if self.use_bias:
            outputs = outputs + self.bias
        outputs = ops.reshape(outputs, (shape[0], shape[1], ops.shape(outputs)[2], outputs.shape[3]))
        return self.activation(outputs) if self.activation is not None else outputs

    def get_config(self):
        config = super().get_config()
        config["kernel_size"] = config["kernel_size"][1]
        config["strides"] = config["strides"][1]
        return config


@keras.saving.register_keras_serializable(package="kasc")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras ``BatchNormalization`` computed by TensorFlow's fused kernel
    (``FusedBatchNormV3`` and its gradient: one pass for the statistics and the
    normalisation, oneDNN-accelerated), where Keras 3 runs separate mean, variance and
    normalisation ops. Same weights, same outputs, same moving-statistics update (biased
    batch variance, as Keras), same ``get_config``; trains kasc's student about 1.6x faster
    on 2 CPU cores (README, "CPU kernels and speed").

    Used for 4-D inputs (batch, frames, mels, channels) normalised over the last axis
    with centre and scale, no mask and no renormalisation; anything else falls back to
    Keras' own computation.

    Built under a ``tf.distribute`` strategy with several replicas (``train.strategy``),
    the layer is synchronised (Keras' ``synchronized=True``): batch statistics over the
    global batch, as on one device, so N replicas train the network one device would.
    ``synchronized`` is left out of the config: a saved model takes the setting of the
    strategy it is loaded under.
    """

    def __init__(self, *args, synchronized: bool | None = None, **kwargs):
        if synchronized is None:
            synchronized = tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1
        super().__init__(*args, synchronized=synchronized, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("synchronized", None)
        return config

    def _fusable(self, inputs, mask) -> bool:
        return (mask is None and len(inputs.shape) == 4 and self.axis in (-1, 3) and self.center and self.scale
                and not self.renorm and not self.synchronized)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)

        x = tf.cast(inputs, tf.float32) if inputs.dtype not in (tf.float16, tf.bfloat16, tf.float32) else inputs
        gamma, beta = tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32)
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon,
                                                                 is_training=True)
            # the kernel returns the unbiased batch variance; Keras updates with the biased one
            count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, mean=tf.cast(self.moving_mean, tf.float32),
                                                       variance=tf.cast(self.moving_variance, tf.float32),
                                                       epsilon=self.epsilon, is_training=False)
        return tf.cast(y, self.compute_dtype)
