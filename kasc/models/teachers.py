"""The report's teachers (section 3.1): MobileNetV2, a CNN and BC-ResNet, for log-mel
input (batch, frames, mels, 1). Each ends in kasc's classifier head (``logits`` then
``probabilities``). Frames may be None: the teachers see 10 s recordings, the student 1 s.
"""

from __future__ import annotations

import keras
from keras import layers

from kasc.models.blocks import batch_norm, classifier_head, conv_bn_relu
from kasc.models.layers import FrequencyDepthwiseConv2D, FrequencyMean, SubSpectralNorm


MOBILENETV2_TABLE = (  # (expansion t, channels c, repeats n, stride s), Sandler et al. Table 2
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels as MobileNetV2 does (to a multiple of 8, never below 90 %)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _inverted_residual(x, expansion: int, channels: int, stride: int, name: str):
    in_channels = x.shape[-1]
    shortcut = x
    if expansion != 1:
        x = layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{name}_expand")(x)
        x = batch_norm(f"{name}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise")(x)
    x = batch_norm(f"{name}_depthwise_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project")(x)
    x = batch_norm(f"{name}_project_bn")(x)
    if stride == 1 and in_channels == channels:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def build_mobilenetv2(input_shape=(None, 256, 1), n_classes: int = 10, alpha: float = 1.0,
                      dropout: float = 0.2, name: str = "mobilenetv2") -> keras.Model:
    """MobileNetV2 (Sandler et al.) for log-mel input, built from the paper's table.

    The same network as ``keras.applications.MobileNetV2`` (same layers, parameters
    and MACs at 224 x 224 x 3), but with 'same' padding instead of explicit zero padding,
    so that any frame count works, 1 s clips (28 frames) included. No pretrained weights
    are downloaded: use :func:`kasc.models.pretrained.load_pretrained` with a local file.

    Args:
      alpha: width multiplier.
    """
    inputs = keras.Input(shape=input_shape, name="logmel")
    x = layers.Conv2D(_make_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = batch_norm("stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    block = 0
    for expansion, channels, repeats, stride in MOBILENETV2_TABLE:
        for i in range(repeats):
            x = _inverted_residual(x, expansion, _make_divisible(channels * alpha), stride if i == 0 else 1,
                                   f"block{block}")
            block += 1
    last = _make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, 1, use_bias=False, name="top_conv")(x)
    x = batch_norm("top_bn")(x)
    x = layers.ReLU(6.0, name="top_relu")(x)
    outputs = classifier_head(x, n_classes, dropout=dropout)
    return keras.Model(inputs, outputs, name=name)


def build_cnn_teacher(input_shape=(None, 256, 1), n_classes: int = 10, width: int = 32,
                      dropout: float = 0.3, name: str = "cnn_teacher") -> keras.Model:
    """A plain VGG-style CNN, stronger than the student (the report does not describe its
    "CNN" teacher; this is the classic DCASE CNN of Kong et al.'s PANNs CNN family, sized down):

    four stages of two 3x3 conv-BN-ReLU layers with width x (1, 2, 4, 8) channels, 2x2
    average pooling and dropout after stages 1-3, global average pooling, dense logits.
    With width 32 it has about 1.2 M parameters.
    """
    inputs = keras.Input(shape=input_shape, name="logmel")
    x = inputs
    for stage, factor in enumerate((1, 2, 4, 8), start=1):
        for i in (1, 2):
            x = conv_bn_relu(x, width * factor, 3, f"stage{stage}_{i}")
        if stage < 4:
            x = layers.AveragePooling2D(2, padding="same", name=f"stage{stage}_pool")(x)
            x = layers.Dropout(dropout / 2, name=f"stage{stage}_dropout")(x)
    outputs = classifier_head(x, n_classes, dropout=dropout)
    return keras.Model(inputs, outputs, name=name)


def _bc_block(x, channels: int, name: str, transition: bool, freq_stride: int, dilation: int,
              sub_bands: int, dropout: float):
    """One BC-ResNet block (Kim et al. 2021), in (frames, mels) orientation.

    f2: frequency-wise depthwise 3x1 conv (along mels) + sub-spectral norm;
    f1: average over mels, temporal depthwise conv (along frames, dilated), BN, swish,
    1x1 conv, dropout; output = f2 + broadcast(f1) (+ identity for normal blocks), ReLU.
    Transition blocks start with 1x1 conv-BN-ReLU to the new width and have no identity.
    """
    shortcut = x
    if transition:
        x = conv_bn_relu(x, channels, 1, f"{name}_expand")
    f2 = FrequencyDepthwiseConv2D(3, strides=freq_stride, use_bias=False, name=f"{name}_freq_dwconv")(x)
    f2 = SubSpectralNorm(sub_bands, name=f"{name}_ssn")(f2)
    f1 = FrequencyMean(name=f"{name}_freq_mean")(f2)
    f1 = layers.DepthwiseConv2D((3, 1), dilation_rate=(dilation, 1), padding="same", use_bias=False,
                                name=f"{name}_time_dwconv")(f1)
    f1 = batch_norm(f"{name}_time_bn")(f1)
    f1 = layers.Activation("swish", name=f"{name}_swish")(f1)
    f1 = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_pointwise")(f1)
    f1 = layers.SpatialDropout2D(dropout, name=f"{name}_dropout")(f1)
    parts = [f2, f1] if transition else [shortcut, f2, f1]
    x = layers.Add(name=f"{name}_add")(parts)  # f1 (frames, 1) broadcasts over mels
    return layers.ReLU(name=f"{name}_relu")(x)


def build_bc_resnet(input_shape=(None, 256, 1), n_classes: int = 10, scale: int = 2, sub_bands: int = 4,
                    dropout: float = 0.1, name: str = "bc_resnet") -> keras.Model:
    """BC-ResNet-<scale> (broadcasted residual learning, Kim et al. 2021), adapted to 256
    mel bands: a 5x5 conv with stride 2 over both axes, four stages of (2, 2, 4, 4) blocks
    with 8, 12, 16, 20 x scale channels (the first block of each stage a transition),
    frequency stride 2 in stages 2 and 3, temporal dilation 1, 2, 4, 8, then a 5x5
    depthwise conv, 1x1 conv to 32 x scale channels and the classifier head.
    """
    inputs = keras.Input(shape=input_shape, name="logmel")
    x = conv_bn_relu(inputs, 16 * scale, 5, "stem", strides=2)
    stages = ((8, 2, 1, 1), (12, 2, 2, 2), (16, 4, 2, 4), (20, 4, 1, 8))  # (channels, blocks, freq stride, dilation)
    for stage, (factor, blocks, stride, dilation) in enumerate(stages, start=1):
        for block in range(blocks):
            x = _bc_block(x, factor * scale, f"stage{stage}_block{block + 1}", transition=block == 0,
                          freq_stride=stride if block == 0 else 1, dilation=dilation, sub_bands=sub_bands,
                          dropout=dropout)
    x = layers.DepthwiseConv2D(5, padding="same", use_bias=False, name="head_dwconv")(x)
    x = conv_bn_relu(x, 32 * scale, 1, "head_pointwise")
    outputs = classifier_head(x, n_classes)
    return keras.Model(inputs, outputs, name=name)
