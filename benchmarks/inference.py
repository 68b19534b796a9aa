"""Inference latency per 1 s clip on one thread: Keras float, TFLite float32, TFLite int8.

Usage: python benchmarks/inference.py [--repeats 300]

From one run: median latency of one clip (batch 1) for SERFR-CNN-32 on the report's
front end (28 x 256 log-mel) and for the DCASE 2023 baseline on its own front end
(51 x 40), each as a compiled Keras ``tf.function`` (float32), a float32 TFLite file and
a full-integer int8 TFLite file run by LiteRT. TensorFlow and LiteRT are both limited
to one thread. Models are untrained (latency does not depend on the weights); the int8
models are calibrated on random log-mel-like inputs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

INT8_SERFR32_TARGET_MS = 1.5


def median_ms(run, example, repeats: int) -> float:
    for _ in range(20):
        run(example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(example)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from kasc.deployment.conversion import to_tflite
    from kasc.models.reshape import fixed_shape_model
    from kasc.deployment.litert_runner import make_interpreter
    from kasc.models import build_model

    rng = np.random.default_rng(0)
    cases = [("SERFR-CNN-32", build_model("serfr_cnn", (None, 256, 1), 10, width=32), (28, 256, 1)),
             ("DCASE 2023 baseline", build_model("dcase2023_baseline", (51, 40, 1), 10), (51, 40, 1))]
    print(f"median latency per 1 s clip, batch 1, one thread, {args.repeats} runs each")
    print(f"{'model':<22}{'Keras float (tf.function)':>26}{'TFLite float32':>16}{'TFLite int8':>14}")
    for name, model, shape in cases:
        example = rng.normal(-6.0, 3.0, (1, *shape)).astype(np.float32)
        fixed = fixed_shape_model(model, shape)
        compiled = tf.function(lambda x: fixed(x, training=False), jit_compile=False)
        keras_ms = median_ms(lambda x: compiled(x).numpy(), example, args.repeats)
        results = []
        for representative in (None, rng.normal(-6.0, 3.0, (32, *shape)).astype(np.float32)):
            interpreter = make_interpreter(to_tflite(model, shape, representative), threads=1)
            source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

            def run(x, interpreter=interpreter, source=source, target=target):
                interpreter.set_tensor(source, x)
                interpreter.invoke()
                return interpreter.get_tensor(target)

            results.append(median_ms(run, example, args.repeats))
        print(f"{name:<22}{keras_ms:>23.3f} ms{results[0]:>13.3f} ms{results[1]:>11.3f} ms")
        if name == "SERFR-CNN-32":
            serfr_int8 = results[1]
    verdict = "met" if serfr_int8 <= INT8_SERFR32_TARGET_MS else "NOT met"
    print(f"target: int8 SERFR-CNN-32 <= {INT8_SERFR32_TARGET_MS} ms per clip: {verdict} ({serfr_int8:.3f} ms)")


if __name__ == "__main__":
    main()
