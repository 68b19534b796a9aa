"""EfficientAT's MobileNetV3 ("mn" models, Schmid, Koutini and Widmer, ICASSP 2023), the
AudioSet-pretrained teacher, rebuilt in Keras from the published architecture.

The network is the MobileNetV3-Large block table (Howard et al. 2019, Table 1), channels
scaled by ``width`` and rounded to multiples of 8, as EfficientAT builds it:

- stem: 3x3 conv, stride 2, batch norm, hard swish;
- 15 inverted-residual blocks: 1x1 expansion (skipped where the expansion equals the
  input width), depthwise k x k conv (stride 1 or 2), channel squeeze-and-excitation on
  some rows (mean -> Dense(C/4 rounded to 8) -> ReLU -> Dense(C) -> sigmoid), 1x1
  projection without activation, identity shortcut when stride 1 and widths agree;
- last conv 1x1 to 6 x the last block's width, batch norm, hard swish;
- "mlp" head: global average pooling -> Dense(1280 x width, rounded) -> hard swish ->
  dropout -> Dense(classes), here the ``logits`` layer, then ``probabilities``.

Every convolution pads (k - 1) // 2 on both sides, as PyTorch does, so strided layers are
written as explicit ``ZeroPadding2D`` + 'valid' conv (Keras' 'same' pads one side only).
Batch norm uses epsilon 1e-3 and momentum 0.99 (PyTorch momentum 0.01).

Layout: kasc's (batch, frames, mels, 1). EfficientAT feeds (batch, 1, mels, frames); the
network is symmetric in its two spatial axes (square kernels, symmetric padding, means
over both axes), so :func:`load_efficientat_weights` transposes each kernel's two spatial
axes and the outputs are the same.

``mn04`` (width 0.4) has 983,599 parameters with its 527-class AudioSet head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from kasc.models.blocks import logits_and_probabilities
from kasc.models.layers import FusedBatchNormalization

# (input channels, kernel, expanded channels, output channels, squeeze-excitation,
#  activation "RE" ReLU / "HS" hard swish, stride): MobileNetV3-Large, EfficientAT's bneck_conf
MOBILENETV3_LARGE_TABLE = (
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)
LAST_CHANNELS = 1280  # width of the head's hidden Dense layer before scaling
SE_REDUCTION = 4
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # PyTorch momentum 0.01


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10 % down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block after width scaling, with its PyTorch module indices."""

    index: int  # features.<index>
    in_channels: int
    kernel: int
    expanded: int
    out_channels: int
    squeeze_excite: bool
    hard_swish: bool
    stride: int

    @property
    def expands(self) -> bool:
        return self.expanded != self.in_channels

    def torch_modules(self) -> dict[str, str]:
        """Keras role -> PyTorch module prefix inside ``features.<index>.block``."""
        roles = (["expand"] if self.expands else []) + ["depthwise"] + (["se"] if self.squeeze_excite else []) + ["project"]
        return {role: f"features.{self.index}.block.{i}" for i, role in enumerate(roles)}


def block_specs(width: float) -> list[BlockSpec]:
    """The 15 blocks of MobileNetV3-Large at ``width`` (EfficientAT's channel rounding)."""
    return [BlockSpec(i + 1, make_divisible(c_in * width), k, make_divisible(c_exp * width),
                      make_divisible(c_out * width), se, act == "HS", s)
            for i, (c_in, k, c_exp, c_out, se, act, s) in enumerate(MOBILENETV3_LARGE_TABLE)]


def _bn(name: str) -> layers.Layer:
    return FusedBatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _activation(x, hard_swish: bool, name: str):
    return layers.Activation("hard_swish" if hard_swish else "relu", name=name)(x)


def _conv(x, filters: int, kernel: int, stride: int, name: str, depthwise: bool = False):
    """PyTorch-padded conv (pad (k - 1) // 2 each side) without bias."""
    pad = (kernel - 1) // 2
    if pad and stride > 1:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    if depthwise:
        return layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False, name=name)(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=name)(x)


def _inverted_residual(x, spec: BlockSpec):
    name = f"block{spec.index}"
    shortcut = x
    if spec.expands:
        x = _conv(x, spec.expanded, 1, 1, f"{name}_expand_conv")
        x = _bn(f"{name}_expand_bn")(x)
        x = _activation(x, spec.hard_swish, f"{name}_expand_act")
    x = _conv(x, spec.expanded, spec.kernel, spec.stride, f"{name}_depthwise_conv", depthwise=True)
    x = _bn(f"{name}_depthwise_bn")(x)
    x = _activation(x, spec.hard_swish, f"{name}_depthwise_act")
    if spec.squeeze_excite:
        squeezed = make_divisible(spec.expanded // SE_REDUCTION)
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
        s = layers.Dense(squeezed, activation="relu", name=f"{name}_se_fc1")(s)
        s = layers.Dense(spec.expanded, activation="sigmoid", name=f"{name}_se_fc2")(s)
        x = layers.Multiply(name=f"{name}_se_scale")([x, s])
    x = _conv(x, spec.out_channels, 1, 1, f"{name}_project_conv")
    x = _bn(f"{name}_project_bn")(x)
    if spec.stride == 1 and spec.in_channels == spec.out_channels:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def build_efficientat_mn(input_shape=(None, 128, 1), n_classes: int = 527, width: float = 0.4,
                         dropout: float = 0.2, freeze_features: bool = False, name: str | None = None) -> keras.Model:
    """EfficientAT MobileNetV3 at ``width`` (0.4 = ``mn04``) for input (frames, mels, 1).

    Args:
      freeze_features: train only the head (``head_dense`` and ``logits``); the
        convolutional features keep their (pretrained) weights and batch-norm statistics,
        which then run in inference mode. The first stage of linear-probe-then-fine-tune
        (configs ``us8k_teacher_mn04_probe`` -> ``us8k_teacher_mn04``).

    Layers: ``stem_conv``/``_bn``/``_act``, ``block<i>_{expand,depthwise,project}_{conv,bn}``,
    ``block<i>_se_fc1``/``_fc2``, ``head_conv``/``_bn``, ``head_pool``, ``head_dense``,
    ``head_dropout``, ``logits``, ``probabilities``. Frames may be None.
    """
    specs = block_specs(width)
    inputs = keras.Input(shape=input_shape, name="logmel")
    x = _conv(inputs, specs[0].in_channels, 3, 2, "stem_conv")
    x = _bn("stem_bn")(x)
    x = _activation(x, True, "stem_act")
    for spec in specs:
        x = _inverted_residual(x, spec)
    x = _conv(x, 6 * specs[-1].out_channels, 1, 1, "head_conv")
    x = _bn("head_bn")(x)
    x = _activation(x, True, "head_act")
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dense(make_divisible(LAST_CHANNELS * width), name="head_dense")(x)
    x = _activation(x, True, "head_dense_act")
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = logits_and_probabilities(x, n_classes)
    model = keras.Model(inputs, outputs, name=name or f"efficientat_mn{int(round(width * 10)):02d}")
    if freeze_features:
        for layer in model.layers:
            layer.trainable = layer.name in ("head_dense", "logits")
    return model


def torch_names(model: keras.Model) -> dict[str, str]:
    """Keras layer name -> EfficientAT state-dict prefix, for every layer with weights."""
    width = _width_of(model)
    names = {"stem_conv": "features.0.0", "stem_bn": "features.0.1"}
    specs = block_specs(width)
    for spec in specs:
        modules = spec.torch_modules()
        for role in ("expand", "depthwise", "project"):
            if role in modules:
                names[f"block{spec.index}_{role}_conv"] = f"{modules[role]}.0"
                names[f"block{spec.index}_{role}_bn"] = f"{modules[role]}.1"
        if "se" in modules:
            names[f"block{spec.index}_se_fc1"] = f"{modules['se']}.conc_se_layers.0.fc1"
            names[f"block{spec.index}_se_fc2"] = f"{modules['se']}.conc_se_layers.0.fc2"
    last = len(specs) + 1
    names.update({"head_conv": f"features.{last}.0", "head_bn": f"features.{last}.1",
                  "head_dense": "classifier.2", "logits": "classifier.5"})
    return names


def _width_of(model: keras.Model) -> float:
    """The width multiplier a built model was made with, read off its stem."""
    stem = model.get_layer("stem_conv").filters
    for width in (0.1, 0.2, 0.4, 0.5, 1.0, 2.0, 3.0, 4.0):
        if make_divisible(16 * width) == stem and make_divisible(LAST_CHANNELS * width) == model.get_layer("head_dense").units:
            return width
    raise ValueError(f"{model.name}: not an EfficientAT MobileNetV3 of a known width (stem {stem} channels)")


def _keras_weights(layer: layers.Layer, state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """The layer's weights, in Keras order and layout, from PyTorch arrays under ``prefix``."""
    def get(key):
        if f"{prefix}.{key}" not in state:
            raise KeyError(f"{prefix}.{key}")
        return state[f"{prefix}.{key}"]

    if isinstance(layer, layers.BatchNormalization):
        return [get("weight"), get("bias"), get("running_mean"), get("running_var")]
    if isinstance(layer, layers.DepthwiseConv2D):  # torch (C, 1, kh, kw) -> keras (kw, kh, C, 1): frames first
        return [get("weight").transpose(3, 2, 0, 1)]
    if isinstance(layer, layers.Conv2D):  # torch (out, in, kh, kw) -> keras (kw, kh, in, out)
        return [get("weight").transpose(3, 2, 1, 0)]
    if isinstance(layer, layers.Dense):  # torch (out, in) -> keras (in, out)
        return [get("weight").T, get("bias")]
    raise TypeError(f"no weight mapping for layer {layer.name} ({type(layer).__name__})")


def load_efficientat_weights(model: keras.Model, path: str | Path, skip_head: bool | None = None) -> dict:
    """Load an EfficientAT state dict saved as ``.npz`` (PyTorch names and layouts) into a
    model from :func:`build_efficientat_mn`.

    Args:
      skip_head: keep the ``logits`` layer fresh; by default it is skipped exactly when its
        class count differs from the file's (fine-tuning to new classes).

    Returns: {"loaded": [...], "skipped": [...]} (Keras layer names).

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: the file lacks a weight the model needs or holds another shape (another
        width), naming the layer, the PyTorch name and both shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {path}")
    with np.load(path) as archive:
        state = {key: archive[key] for key in archive.files}
    names = torch_names(model)
    if skip_head is None:
        skip_head = state.get("classifier.5.bias", np.empty(0)).shape[0] != model.get_layer("logits").units
    skipped = ["logits"] if skip_head else []
    planned = {}  # every weight is checked before any is set: a bad file leaves the model as it was
    for layer_name, prefix in names.items():
        if layer_name in skipped:
            continue
        layer = model.get_layer(layer_name)
        try:
            weights = _keras_weights(layer, state, prefix)
        except KeyError as missing:
            raise ValueError(f"{path}: no array '{missing.args[0]}' for layer {layer_name} "
                             f"(not an EfficientAT MobileNetV3 state dict?)") from None
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [w.shape for w in weights] != expected:
            raise ValueError(f"{path}: '{prefix}' has shapes {[w.shape for w in weights]}, layer {layer_name} "
                             f"needs {expected} (a model of another width?)")
        planned[layer_name] = [w.astype(np.float32) for w in weights]
    for layer_name, weights in planned.items():
        model.get_layer(layer_name).set_weights(weights)
    return {"loaded": list(planned), "skipped": skipped}
