"""Parameters, parameter memory and multiply-accumulates (MACs) of a Keras or TFLite model.

MACs are counted for convolutions, depthwise convolutions and dense (fully connected)
layers, as the DCASE challenge counts them; every other layer or op type that does
arithmetic is listed as not counted, never silently dropped. Parameter memory is at the
precision the model is stored in: float32 for ``.keras`` weights, and for ``.tflite``
files the bytes of the constant tensors as stored (int8 weights with int32 biases in a
full-integer model, float16 or float32 otherwise).

The DCASE 2023 Task 1 limits are the constants of :mod:`kasc.complexity.limits`.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Iterable

import numpy as np
from keras import layers
from ai_edge_litert.interpreter import Interpreter

from kasc.complexity.limits import DCASE2023_MAX_MACS, DCASE2023_MAX_PARAM_BYTES, DEFAULT_INPUT_SHAPE
from kasc.models import load_model
from kasc.models.reshape import with_input_shape


# Layer / op types that do no arithmetic worth counting (reshapes, inputs) or whose cost
# DCASE does not count is listed separately from types kasc does not know at all.
_KERAS_FREE = {"InputLayer", "Flatten", "Reshape", "Dropout", "SpatialDropout2D", "Functional", "Model"}
_TFLITE_FREE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "QUANTIZE", "DEQUANTIZE", "PACK", "UNPACK", "SHAPE",
                "STRIDED_SLICE", "CONCATENATION", "TRANSPOSE", "GATHER"}


@dataclasses.dataclass
class LayerCost:
    """One layer (Keras) or op (TFLite) of the audit."""

    name: str
    kind: str
    output_shape: tuple
    params: int
    param_bytes: int
    macs: int
    counted: bool


@dataclasses.dataclass
class Audit:
    """Totals and per-layer rows of one model."""

    model: str
    fmt: str
    input_shape: tuple
    layers: list[LayerCost]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def param_bytes(self) -> int:
        return sum(layer.param_bytes for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def not_counted(self) -> list[str]:
        """Types that do arithmetic kasc does not count as MACs (pooling, add, BN, ...)."""
        return sorted({layer.kind for layer in self.layers if not layer.counted})

    @property
    def within_limits(self) -> bool:
        return self.param_bytes <= DCASE2023_MAX_PARAM_BYTES and self.macs <= DCASE2023_MAX_MACS

    def to_dict(self) -> dict:
        return {
            "model": self.model, "format": self.fmt, "input_shape": list(self.input_shape),
            "params": self.params, "param_bytes": self.param_bytes, "macs": self.macs,
            "limits": {"max_param_bytes": DCASE2023_MAX_PARAM_BYTES, "max_macs": DCASE2023_MAX_MACS},
            "within_limits": self.within_limits, "not_counted_types": self.not_counted,
            "layers": [dataclasses.asdict(layer) for layer in self.layers],
        }


# ----------------------------------------------------------------------------- Keras


def _keras_layers(model) -> Iterable:
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _keras_layers(layer)
        else:
            yield layer


def _keras_layer_macs(layer) -> tuple[int, bool]:
    """(MACs, counted) of one layer; subclasses of Keras' conv and dense layers (such as
    ``FrequencyDepthwiseConv2D``) count as their base class."""
    kind = layer.__class__.__name__
    out = layer.output.shape
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        in_ch = layer.input.shape[-1]
        return int(np.prod(out[1:])) * kh * kw * (in_ch // layer.groups), True
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return int(np.prod(out[1:])) * kh * kw, True
    if isinstance(layer, layers.Dense):
        rows = int(np.prod(out[1:-1])) if len(out) > 2 else 1
        return rows * layer.input.shape[-1] * layer.units, True
    return 0, kind in _KERAS_FREE


def audit_keras(model, input_shape: tuple = DEFAULT_INPUT_SHAPE, name: str | None = None) -> Audit:
    """Audit a Keras model for one input of ``input_shape`` (batch 1), float32 weights."""
    fixed = with_input_shape(model, tuple(input_shape))
    rows = []
    for layer in _keras_layers(fixed):
        params = int(sum(math.prod(w.shape) for w in layer.weights))
        param_bytes = int(sum(math.prod(w.shape) * np.dtype(w.dtype).itemsize for w in layer.weights))
        macs, counted = _keras_layer_macs(layer)
        shape = tuple(layer.output.shape[1:]) if hasattr(layer, "output") else ()
        rows.append(LayerCost(layer.name, layer.__class__.__name__, shape, params, param_bytes, macs, counted))
    return Audit(name or model.name, "keras", tuple(input_shape), rows)


# ----------------------------------------------------------------------------- TFLite


def audit_tflite(path: str | Path) -> Audit:
    """Audit a TFLite file from its graph: constant tensors (op inputs that no op
    produces and that are not model inputs) are parameters, at their stored dtype."""
    interpreter = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 - the public API has no op list
    produced = {i for op in ops for i in op["outputs"]}
    graph_inputs = {t["index"] for t in interpreter.get_input_details()}
    input_shape = tuple(int(d) for d in interpreter.get_input_details()[0]["shape"][1:])
    seen_constants: set[int] = set()
    rows = []
    for op in ops:
        kind = op["op_name"]
        inputs = [i for i in op["inputs"] if i >= 0]
        constants = [i for i in inputs if i not in produced and i not in graph_inputs and i not in seen_constants]
        seen_constants.update(constants)
        params = int(sum(math.prod(tensors[i]["shape"]) for i in constants))
        param_bytes = int(sum(math.prod(tensors[i]["shape"]) * np.dtype(tensors[i]["dtype"]).itemsize
                              for i in constants))
        out_shape = tuple(int(d) for d in tensors[op["outputs"][0]]["shape"])
        macs, counted = 0, kind in _TFLITE_FREE
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            weight = tuple(int(d) for d in tensors[inputs[1]]["shape"])
            out_elements = math.prod(out_shape)
            if kind == "CONV_2D":  # weight (out_ch, kh, kw, in_ch)
                macs = out_elements * weight[1] * weight[2] * weight[3]
            elif kind == "DEPTHWISE_CONV_2D":  # weight (1, kh, kw, out_ch)
                macs = out_elements * weight[1] * weight[2]
            else:  # weight (units, in)
                macs = out_elements * weight[1]
            counted = True
        name = tensors[op["outputs"][0]]["name"]
        rows.append(LayerCost(name, kind, out_shape[1:], params, param_bytes, macs, counted))
    return Audit(Path(path).name, "tflite", input_shape, rows)


# ----------------------------------------------------------------------------- CLI


def audit_file(path: str | Path, input_shape: tuple = DEFAULT_INPUT_SHAPE) -> Audit:
    """Audit a ``.keras`` or ``.tflite`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix == ".tflite":
        return audit_tflite(path)
    if path.suffix == ".keras":
        return audit_keras(load_model(path), input_shape, name=path.name)
    raise ValueError(f"{path}: expected a .keras or .tflite file")


def format_table(audit: Audit) -> str:
    """Per-layer table and totals as text."""
    lines = [f"{audit.model} ({audit.fmt}), input {audit.input_shape}",
             f"{'layer':<48} {'type':<22} {'output':<18} {'params':>9} {'bytes':>9} {'MACs':>12}"]
    for row in audit.layers:
        if not (row.params or row.macs or not row.counted):
            continue
        mark = "" if row.counted else " *"
        lines.append(f"{row.name[-48:]:<48} {row.kind[:22]:<22} {str(row.output_shape)[:18]:<18} "
                     f"{row.params:>9,} {row.param_bytes:>9,} {row.macs:>12,}{mark}")
    lines += [f"total: {audit.params:,} parameters, {audit.param_bytes:,} bytes "
              f"(limit {DCASE2023_MAX_PARAM_BYTES:,}), {audit.macs:,} MACs at input {audit.input_shape}"]
    if audit.not_counted:
        lines.append("* not counted as MACs (DCASE counts conv/dense only): " + ", ".join(audit.not_counted))
    return "\n".join(lines)
