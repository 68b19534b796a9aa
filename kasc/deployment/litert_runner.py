"""Running TFLite files with the LiteRT interpreter (``ai-edge-litert``; TensorFlow's own
``tf.lite.Interpreter`` is deprecated).

kasc's TFLite files take one example at a time (batch 1), as a device would run them.
:class:`TFLiteModel` keeps one interpreter and runs it over every example of a batch;
create it once and call it many times (creating an interpreter costs milliseconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from kasc.startup import native_notes_held_back


def make_interpreter(model_content_or_path: bytes | str | Path, threads: int = 1):
    """A LiteRT interpreter with tensors allocated. LiteRT's default XNNPACK delegate
    refuses some int8 graphs ("failed to create XNNPACK runtime"); those run on the
    built-in kernels instead."""
    with native_notes_held_back():
        return _interpreter(Interpreter, OpResolverType, model_content_or_path, threads)


def _interpreter(Interpreter, OpResolverType, model_content_or_path, threads: int):  # noqa: N803 - classes
    source = ({"model_content": bytes(model_content_or_path)} if isinstance(model_content_or_path, (bytes, bytearray))
              else {"model_path": str(model_content_or_path)})
    try:
        interpreter = Interpreter(**source, num_threads=threads)
        interpreter.allocate_tensors()
    except RuntimeError as err:
        if "XNNPACK" not in str(err):
            raise
        interpreter = Interpreter(**source, num_threads=threads,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    return interpreter


class TFLiteModel:
    """A batch-1 TFLite model as a function of batches: (n, *input_shape) -> (n, *output_shape).

    Args:
      model_content_or_path: the flatbuffer bytes or a ``.tflite`` path.
      threads: LiteRT threads.
    """

    def __init__(self, model_content_or_path: bytes | str | Path, threads: int = 1):
        try:
            self.interpreter = make_interpreter(model_content_or_path, threads)
        except ValueError as err:
            where = "the model" if isinstance(model_content_or_path, bytes) else str(model_content_or_path)
            raise ValueError(f"{where}: not a readable TFLite model (cut short or damaged: {err})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        outputs = []
        for example in inputs:
            self.interpreter.set_tensor(self.input["index"], example[None].astype(self.input["dtype"]))
            self.interpreter.invoke()
            outputs.append(self.interpreter.get_tensor(self.output["index"])[0].copy())
        return np.stack(outputs)


def run_tflite(model_content_or_path: bytes | str | Path, inputs: np.ndarray, threads: int = 1) -> np.ndarray:
    """Run a batch-1 TFLite model once over ``inputs`` (n, ...) with LiteRT."""
    return TFLiteModel(model_content_or_path, threads)(inputs)
