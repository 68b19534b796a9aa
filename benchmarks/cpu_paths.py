"""Training speed of kasc's networks on each CPU path TensorFlow can take: oneDNN or
Eigen kernels, with or without XLA, and thread settings.

Usage: python benchmarks/cpu_paths.py [--rounds 3] [--steps 8] [--models serfr_cnn,mobilenetv2,...]

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, so every setting
runs in a fresh process (``--worker``). The settings are interleaved round by round
(this machine is noisy) and the median per (setting, model) is printed with its ratio
to the Eigen path (``TF_ENABLE_ONEDNN_OPTS=0``, TensorFlow's own default on CPUs without
AVX-512). A step is one ``Distiller.train_on_batch`` (Adam, weight decay) on one
in-memory batch of random log-mel: the network's cost, no input pipeline.

Shapes: the student SERFR-CNN-32 on 1 s clips (28 frames x 256 mels, batch 64), the
teachers at their training shape, 10 s recordings (313 frames x 256 mels, batch
``--teacher-batch``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# name -> (environment, compile options, threading (intra, inter) or None = TF's default)
SETTINGS = {
    "eigen": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, {}, None),
    "eigen + XLA": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, {"jit_compile": True}, None),
    "oneDNN": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, {}, None),
    "oneDNN + XLA": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, {"jit_compile": True}, None),
    "oneDNN 2 intra 1 inter threads": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, {}, (2, 1)),
    "oneDNN 1 intra 2 inter threads": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, {}, (1, 2)),
}
MODELS = {  # name -> (builder params, frames, batch role)
    "serfr_cnn": ({"width": 32}, 28, "student"),
    "mobilenetv2": ({}, 313, "teacher"),
    "cnn_teacher": ({}, 313, "teacher"),
    "bc_resnet": ({}, 313, "teacher"),
}


def worker(setting: str, models: list[str], steps: int, student_batch: int, teacher_batch: int) -> dict:
    """Samples/s of each model in this process (the setting's environment is already set)."""
    _, compile_options, threads = SETTINGS[setting]
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(threads[1])
    import keras
    import numpy as np

    from kasc.training.distill import Distiller
    from kasc.models import build_model
    from kasc.data.batch_keys import LABELS

    out = {}
    for name in models:
        params, frames, role = MODELS[name]
        batch = student_batch if role == "student" else teacher_batch
        keras.utils.set_random_seed(0)
        model = build_model(name, (None, 256, 1), 10, **params)
        distiller = Distiller(model)
        distiller.compile(optimizer=keras.optimizers.Adam(1e-3, weight_decay=1e-3), **compile_options)
        rng = np.random.default_rng(0)
        x = tf.constant(rng.standard_normal((batch, frames, 256, 1)).astype(np.float32))
        y = {LABELS: tf.one_hot(rng.integers(0, 10, batch), 10)}
        for _ in range(2):  # trace (and compile with XLA)
            distiller.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(steps):
            distiller.train_on_batch(x, y)
        out[name] = steps * batch / (time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per model and round")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of SETTINGS")
    parser.add_argument("--student-batch", type=int, default=64)
    parser.add_argument("--teacher-batch", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per setting and round")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = args.models.split(",")
    if args.worker:
        print(json.dumps(worker(args.worker, models, args.steps, args.student_batch, args.teacher_batch)))
        return

    settings = args.settings.split(",")
    unknown = [s for s in settings if s not in SETTINGS] + [m for m in models if m not in MODELS]
    if unknown:
        sys.exit(f"unknown setting or model: {unknown}; settings: {list(SETTINGS)}; models: {list(MODELS)}")
    rates = {(s, m): [] for s in settings for m in models}
    for round_ in range(args.rounds):
        for setting in settings:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO), **SETTINGS[setting][0]}
            command = [sys.executable, __file__, "--worker", setting, "--models", args.models,
                       "--steps", str(args.steps), "--student-batch", str(args.student_batch),
                       "--teacher-batch", str(args.teacher_batch)]
            try:
                result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"round {round_ + 1}, {setting}: over {args.timeout} s, skipped", file=sys.stderr)
                continue
            if result.returncode:
                print(f"round {round_ + 1}, {setting}: FAILED\n{result.stderr[-2000:]}", file=sys.stderr)
                continue
            for model, rate in json.loads(result.stdout.strip().splitlines()[-1]).items():
                rates[(setting, model)].append(rate)
            print(f"round {round_ + 1}/{args.rounds} {setting}: done", file=sys.stderr, flush=True)

    from kasc.training.runtime import cpu_summary

    print(f"training samples/s, median of {args.rounds} interleaved rounds of {args.steps} steps; "
          f"{cpu_summary()}; "
          f"student batch {args.student_batch} x 28 frames, teachers batch {args.teacher_batch} x 313 frames")
    header = f"{'setting':<36}" + "".join(f"{m:>22}" for m in models)
    print(header)
    base = {m: statistics.median(rates[("eigen", m)]) if rates.get(("eigen", m)) else None for m in models}
    for setting in settings:
        cells = []
        for m in models:
            values = rates[(setting, m)]
            if not values:
                cells.append(f"{'failed':>22}")
                continue
            median = statistics.median(values)
            ratio = f" ({median / base[m]:.2f}x)" if base[m] else ""
            cells.append(f"{median:>13.1f}{ratio:>9}")
        print(f"{setting:<36}" + "".join(cells))
    print("(ratios: against the Eigen path, TF_ENABLE_ONEDNN_OPTS=0, measured in the same run)")


if __name__ == "__main__":
    main()
