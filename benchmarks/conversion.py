"""TFLite conversion time: kasc's route against TensorFlow's SavedModel route, in one run.

Usage: python benchmarks/conversion.py [--architectures serfr_cnn cnn_teacher ...] [--rounds 2]

For each architecture (untrained, 28 x 64 log-mel input, 10 classes), float32 and int8:
the seconds of ``kasc.deployment.conversion.to_tflite`` (the network's inference function
frozen in memory) and of ``TFLiteConverter.from_keras_model`` (TensorFlow writes a SavedModel
and reads it back), interleaved, best of ``--rounds``; and the largest difference between the
two files' outputs on 16 random inputs (both run by LiteRT). Prints one row each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

INPUT_SHAPE = (28, 64, 1)


def savedmodel_route(model, input_shape: tuple, representative: np.ndarray | None) -> bytes:
    """TensorFlow's default: ``from_keras_model`` (a SavedModel written and read back)."""
    import tensorflow as tf

    from kasc.deployment.conversion import converter_output_captured
    from kasc.models.reshape import fixed_shape_model

    converter = tf.lite.TFLiteConverter.from_keras_model(fixed_shape_model(model, input_shape))
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([example[None]] for example in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with converter_output_captured():
        return converter.convert()


def timed(convert) -> tuple[float, bytes]:
    start = time.perf_counter()
    flatbuffer = convert()
    return time.perf_counter() - start, flatbuffer


def main() -> None:
    from kasc.config import ARCHITECTURES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from kasc.deployment.conversion import to_tflite
    from kasc.deployment.litert_runner import run_tflite
    from kasc.models import FIXED_INPUT_ARCHITECTURES, build_model

    rng = np.random.default_rng(0)
    representative = rng.normal(-6.0, 3.0, (8, *INPUT_SHAPE)).astype(np.float32)
    check = rng.normal(-6.0, 3.0, (16, *INPUT_SHAPE)).astype(np.float32)
    print("| network | file | kasc route, s | SavedModel route, s | ratio | largest output difference |")
    print("| --- | --- | --- | --- | --- | --- |")
    for architecture in args.architectures:
        frames = INPUT_SHAPE[0] if architecture in FIXED_INPUT_ARCHITECTURES else None
        model = build_model(architecture, (frames, *INPUT_SHAPE[1:]), 10)
        for kind, calibration in (("float32", None), ("int8", representative)):
            ours, theirs = [], []
            for _ in range(args.rounds):  # interleaved, so a slower moment of the machine hits both
                ours.append(timed(lambda: to_tflite(model, INPUT_SHAPE, calibration)))
                theirs.append(timed(lambda: savedmodel_route(model, INPUT_SHAPE, calibration)))
            difference = np.abs(run_tflite(ours[0][1], check) - run_tflite(theirs[0][1], check)).max()
            best_ours, best_theirs = min(t for t, _ in ours), min(t for t, _ in theirs)
            print(f"| {architecture} | {kind} | {best_ours:.2f} | {best_theirs:.2f} | "
                  f"{best_theirs / best_ours:.1f}x | {difference:.2g} |", flush=True)


if __name__ == "__main__":
    main()
