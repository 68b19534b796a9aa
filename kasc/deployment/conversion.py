"""Keras -> TFLite conversion (float32, or full-integer int8 calibrated on representative
inputs) with the converter's chatter held back, and the comparison of two models'
probabilities used by every export check."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings

import numpy as np
import tensorflow as tf

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
    """
    fixed = fixed_shape_model(model, input_shape)
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
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
        return converter.convert()


def compare(reference: np.ndarray, other: np.ndarray) -> dict:
    """Largest absolute probability difference and top-1 agreement of two (n, classes)."""
    return {
        "max_abs_prob_diff": float(np.abs(reference - other).max()),
        "mean_abs_prob_diff": float(np.abs(reference - other).mean()),
        "top1_agreement": float(np.mean(reference.argmax(1) == other.argmax(1))),
        "clips": int(len(reference)),
    }
