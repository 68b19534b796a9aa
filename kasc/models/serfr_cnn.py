"""SERFR-CNN, the report's student (section 3.2): a receptive-field-regularised CNN
(RFR-CNN / CP-ResNet, Koutini et al.) with squeeze-and-excitation blocks.

The report's table is kept below as data, ``SERFR_TABLE``: one entry per table row with
the row's text as the report gives it and the kasc layers that implement it; the
builder is a loop over the table. ``docs/serfr_cnn.md`` puts every row beside its output
shape, parameters and MACs (produced by ``python -m kasc.complexity``) and lists the
readings chosen where the PDF text is garbled:

- Convolution(1) has stride 2 (as the first layer of RFR-CNN / CP-ResNet). The table
  gives no stride; read with stride 1 the model needs about 41 M MACs per 1 s clip, over
  the DCASE 2023 limit of 30 M (see the doc).
- "2x3 average pool": pool size and stride (2, 3) over (frames, mel bands).
- RFR blocks: three residual sub-blocks each (CP-ResNet basic blocks: conv-BN-ReLU,
  conv-BN, add the input, ReLU); block 1's sub-blocks are [1x1 conv, 3x3 conv], blocks
  2 and 3 are [1x1 conv, 1x1 conv] (RFR: 3x3 kernels early only, small receptive field).
- All blocks keep the width (32 or 24 channels): the transition's residual "1x1 conv +
  RES" adds the block's input, which needs equal channel counts.
- Transition layer: 1x1 conv-BN-ReLU, add the residual, then 2x2 max pool ('same'
  padding, so that 28 frames shrink 7 -> 4 -> 2 -> 1 instead of vanishing).
- SE block: reduction 4 (not given in the report).
- Convolution(2): 1x1 conv-256-BN-ReLU. Dense: 10 logits, then softmax.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
from keras import layers

from kasc.models.blocks import classifier_head, conv_bn_relu, squeeze_excite


@dataclasses.dataclass(frozen=True)
class SerfrParams:
    """Hyper-parameters of SERFR-CNN.

    Attributes:
      width: channels of the first convolution and of every block (32 or 24).
      first_stride: stride of Convolution(1) (2; the table gives none, see module doc).
      se_reduction: channel reduction inside the SE blocks.
      head_channels: channels of Convolution(2) (256 in the report).
    """

    width: int = 32
    first_stride: int = 2
    se_reduction: int = 4
    head_channels: int = 256


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the report's table and the kasc layers that implement it.

    Attributes:
      report: the row as the report's table gives it (layer, description).
      kasc: what kasc builds for it, in words.
      build: (tensor, params, name) -> tensor.
    """

    report: tuple[str, str]
    kasc: str
    build: Callable


def _rfr_block(kernels: tuple[int, int], repeats: int = 3) -> Callable:
    def build(x, params: SerfrParams, name: str):
        width = params.width
        for i in range(1, repeats + 1):
            shortcut = x
            x = conv_bn_relu(x, width, kernels[0], f"{name}_{i}a")
            x = conv_bn_relu(x, width, kernels[1], f"{name}_{i}b", relu=False)
            x = layers.Add(name=f"{name}_{i}_add")([x, shortcut])
            x = layers.ReLU(name=f"{name}_{i}_relu")(x)
        return x

    return build


def _transition(x, params: SerfrParams, name: str):
    shortcut = x
    x = conv_bn_relu(x, params.width, 1, name)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.MaxPooling2D(2, padding="same", name=f"{name}_pool")(x)


def _se(x, params: SerfrParams, name: str):
    return squeeze_excite(x, name, reduction=params.se_reduction)


SERFR_TABLE: tuple[Row, ...] = (
    Row(("Convolution(1)", "5x5 conv-32-BN-RELU"), "5x5 conv, width channels, stride 2, BN, ReLU",
        lambda x, p, n: conv_bn_relu(x, p.width, 5, n, strides=p.first_stride)),
    Row(("Pooling", "2x3 average pool"), "average pool (2, 3) over (frames, mels)",
        lambda x, p, n: layers.AveragePooling2D((2, 3), padding="same", name=n)(x)),
    Row(("RFR Block1", "[1x1 conv; 3x3 conv] x3"), "3 residual sub-blocks [1x1 conv, 3x3 conv]", _rfr_block((1, 3))),
    Row(("SE Block", "-"), "squeeze-and-excitation, reduction 4", _se),
    Row(("Transition Layer(1)", "1x1 conv + RES; 2x2 max pool"), "1x1 conv-BN-ReLU + input, 2x2 max pool",
        _transition),
    Row(("RFR Block2", "[1x1 conv; 1x1 conv] x3"), "3 residual sub-blocks [1x1 conv, 1x1 conv]", _rfr_block((1, 1))),
    Row(("SE Block", "-"), "squeeze-and-excitation, reduction 4", _se),
    Row(("Transition Layer(2)", "1x1 conv + RES; 2x2 max pool"), "1x1 conv-BN-ReLU + input, 2x2 max pool",
        _transition),
    Row(("RFR Block3", "[1x1 conv; 1x1 conv] x3"), "3 residual sub-blocks [1x1 conv, 1x1 conv]", _rfr_block((1, 1))),
    Row(("SE Block", "-"), "squeeze-and-excitation, reduction 4", _se),
    Row(("Transition Layer(3)", "1x1 conv + RES; 2x2 max pool"), "1x1 conv-BN-ReLU + input, 2x2 max pool",
        _transition),
    Row(("Convolution(2)", "1x1 conv-256"), "1x1 conv, 256 channels, BN, ReLU",
        lambda x, p, n: conv_bn_relu(x, p.head_channels, 1, n)),
)
ROW_NAMES = ("conv1", "pool1", "rfr1", "se1", "transition1", "rfr2", "se2", "transition2",
             "rfr3", "se3", "transition3", "conv2")
"""Layer-name prefix of each table row (layers are named ``<prefix>_<role>``)."""


def build_serfr_cnn(input_shape=(None, 256, 1), n_classes: int = 10, width: int = 32,
                    first_stride: int = 2, se_reduction: int = 4, head_channels: int = 256,
                    name: str | None = None) -> keras.Model:
    """SERFR-CNN-<width> as a Keras functional model.

    Args:
      input_shape: (frames, mel bands, 1); frames may be None (global pooling), so the
        same model runs on 1 s (28 frames) and 10 s clips.
      n_classes: output classes.
      width, first_stride, se_reduction, head_channels: see :class:`SerfrParams`.

    Returns:
      model mapping log-mel (batch, frames, mels, 1) to class probabilities
      (batch, n_classes); its ``logits`` layer holds the pre-softmax outputs.
    """
    params = SerfrParams(width, first_stride, se_reduction, head_channels)
    inputs = keras.Input(shape=input_shape, name="logmel")
    x = inputs
    for row, prefix in zip(SERFR_TABLE, ROW_NAMES):
        x = row.build(x, params, prefix)
    outputs = classifier_head(x, n_classes)  # Pooling: global average pool; Dense(10, softmax)
    return keras.Model(inputs, outputs, name=name or f"serfr_cnn_{width}")
