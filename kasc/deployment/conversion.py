"""Keras -> TFLite conversion (float32, or full-integer int8 calibrated on representative
inputs) with the converter's chatter held back, and the comparison of two models'
probabilities used by every export check.

The network is converted from its inference function (``training=False``), frozen in memory:
``TFLiteConverter.from_keras_model`` writes and reads back a SavedModel first, which gives
the same flatbuffer ops and outputs (checked for every architecture) at 3-5 times the time.
That route's ``serving_default`` signature is written into the file here, so LiteRT's
signature runners find the model as before."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from kasc.models.reshape import fixed_shape_model


@contextlib.contextmanager
def converter_output_captured():
    """Hold back what the TFLite converter prints (a "Saved artifact" listing of every
    variable, MLIR notes) at the file-descriptor level; show it only if conversion fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as capture:
        try:
            for fd in saved:
                os.dup2(capture.fileno(), fd)
            yield
        except BaseException:
            _restore(saved)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            _restore(saved)


def _restore(saved: dict) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, copy in list(saved.items()):
        os.dup2(copy, fd)
        os.close(copy)
        del saved[fd]


def to_tflite(model, input_shape: tuple, representative: np.ndarray | None = None) -> bytes:
    """Convert a Keras model for batch-1 inputs of ``input_shape``.

    Args:
      representative: float32 (n, *input_shape) log-mel examples; given, the model is
        quantised to full integer int8 (else float32).

    Returns:
      the flatbuffer, with one signature ``serving_default``: the Keras input's name in,
      ``output_0`` out.
    """
    fixed = fixed_shape_model(model, input_shape)
    input_name = fixed.inputs[0].name

    @tf.function
    def inference(inputs):
        return fixed(inputs, training=False)

    function = inference.get_concrete_function(tf.TensorSpec((1, *input_shape), tf.float32, name=input_name))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], fixed)
    converter.experimental_lower_to_saved_model = False  # freeze in memory: no SavedModel round trip
    if representative is not None:
        def examples():
            for example in representative:
                yield [example[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = examples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with converter_output_captured(), warnings.catch_warnings():
        # expected: the int8 model keeps float32 input and output (QUANTIZE / DEQUANTIZE ops)
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        flatbuffer = converter.convert()
    return with_serving_signature(flatbuffer, input_name)


def with_serving_signature(flatbuffer: bytes, input_name: str, output_name: str = "output_0") -> bytes:
    """``flatbuffer`` (one subgraph, one input, one output) with the signature
    ``serving_default`` mapping ``input_name`` and ``output_name`` to its tensors, as a
    SavedModel conversion of a Keras model names them."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    graph = model.subgraphs[0]
    if len(model.subgraphs) != 1 or len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError("with_serving_signature: the model must have one subgraph with one input and one output")

    def tensor_map(name: str, index: int):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name.encode(), int(index)
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = b"serving_default", 0
    signature.inputs = [tensor_map(input_name, graph.inputs[0])]
    signature.outputs = [tensor_map(output_name, graph.outputs[0])]
    model.signatureDefs = [signature]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def compare(reference: np.ndarray, other: np.ndarray) -> dict:
    """Largest absolute probability difference and top-1 agreement of two (n, classes)."""
    return {
        "max_abs_prob_diff": float(np.abs(reference - other).max()),
        "mean_abs_prob_diff": float(np.abs(reference - other).mean()),
        "top1_agreement": float(np.mean(reference.argmax(1) == other.argmax(1))),
        "clips": int(len(reference)),
    }
