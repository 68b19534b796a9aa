"""Training throughput of SERFR-CNN-32: plain, distilled with cached soft targets, and
distilled with online teachers; against the machine's float32 matrix-multiply rate.

Usage: python benchmarks/train_speed.py [--steps 20] [--rounds 5] [--batch-size 64] [--no-torch]

From one run, on the shared TAU22 mini set's training clips, repeated to fill whole
batches (``full_batches``; the real pipeline, as
``kasc.train`` runs it: cached log-mel -> mixup, masks, time stretch ->
Distiller.train_step; and once with the log-mel computed from the cached int16 audio for
every batch, as with ``data.cache_logmel: false``):

- samples/s (wall time of drawing each batch and ``train_on_batch``, as in ``fit``:
  the pipeline runs ahead in its own threads, and waiting for it counts) of the plain
  student on one in-memory batch repeated (no pipeline: what the network alone costs),
  then of each mode with the pipeline: the median of ``--rounds``
  timed epochs of ``--steps`` steps, the modes interleaved round by round (this machine
  is noisy), after untimed steps that trace every function;
- the median over rounds of the ratio cached-KD time per clip / plain (target
  <= 1.3), and the same for online KD;
- numpy SGEMM GFLOP/s (2048 x 2048 float32 matmul, best of 5) and the student's achieved
  training FLOP/s, counted as 3 x 2 x forward MACs per sample (forward, plus a backward
  pass of about twice the forward cost), as a fraction of the SGEMM rate.

Teachers are the three report teachers, untrained (speed does not depend on the
weights); cached targets come from their logits computed once before timing.

Then kasc against PyTorch (``benchmarks/torch_twins.py``, needs the ``bench`` extra):
SERFR-CNN-32 (1 s, batch ``--batch-size``) and the MobileNetV2 teacher (10 s, batch
``--teacher-batch``), one in-memory batch each, kasc's ``Distiller.train_on_batch``
against the twin's step (AdamW, cross-entropy, backward, update) in PyTorch's default
layout and in channels-last, rounds interleaved, the twins in a server process of their
own. The benchmark first asserts that each twin has kasc's parameter count and MACs. The
ratio is kasc's samples/s over the faster of the two PyTorch layouts, median over rounds.

``--strategy mirrored`` measures scaling instead (``kasc.training.distribute``): the CPU is split
into two logical devices, and SERFR-CNN-32 (one in-memory global batch of
``--batch-size``, Adam, ``Distiller.train_on_batch``) trains on one replica (the default
strategy) and mirrored over the two, rounds interleaved; samples/s of each and their
ratio. Two logical devices share the same two cores, so this shows the cost of the
replication machinery, not a speed-up (that needs two GPUs or machines).

``--strategy multi_worker`` does the same with two worker processes on localhost ports
(``MultiWorkerMirroredStrategy``, ``TF_CONFIG`` set here; each worker feeds half of the
global batch) against one process: each round starts one process, then the two workers,
each timing ``--steps`` steps after untimed tracing steps (start-up is not counted);
medians over ``--rounds``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

CACHED_KD_TARGET_RATIO = 1.3
TORCH_TARGETS = {"serfr_cnn": 1.5, "mobilenetv2": 1.0}  # kasc samples/s over PyTorch's, at least
SGEMM_FRACTION_TARGET = 0.35  # student training FLOP/s over numpy SGEMM FLOP/s, at least
PEER_SHAPES = {"serfr_cnn": ({"width": 32}, 28), "mobilenetv2": ({}, 313)}  # builder params, frames


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` float32 n x n matmul rate with numpy, in GFLOP/s (2 n^3 FLOPs)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), np.float32), rng.random((n, n), np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_steps(distiller, iterator, steps: int) -> tuple[float, int]:
    """(seconds, clips) of ``steps`` training steps on batches drawn from ``iterator``
    (an epoch's last batch may be smaller, so clips are counted, not assumed)."""
    clips = 0
    start = time.perf_counter()
    for _ in range(steps):
        x, y = next(iterator)
        distiller.train_on_batch(x, y)
        clips += int(x.shape[0])
    return time.perf_counter() - start, clips


def full_batches(data, batch_size: int):
    """The split repeated until its clip count is a multiple of ``batch_size``, so that
    every batch is full (the mini set's 70 clips would otherwise end each epoch with a
    batch of 6, whose fixed cost per step and extra trace are not what training costs)."""
    import dataclasses
    import math

    import pandas as pd

    repeats = batch_size // math.gcd(len(data), batch_size)
    return dataclasses.replace(data, table=pd.concat([data.table] * repeats, ignore_index=True),
                               waveforms=np.tile(np.asarray(data.waveforms), (repeats, 1)),
                               labels=np.tile(data.labels, repeats))


class TorchPeer:
    """The PyTorch twins in their own process (``benchmarks/torch_twins.py --serve``)."""

    def __init__(self):
        import subprocess

        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("torch_twins.py")), "--serve"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **request) -> dict:
        import json

        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the PyTorch twin process ended (is torch installed? pip install -e '.[bench]')")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def torch_comparison(args, n_mels: int) -> dict:
    """kasc vs the PyTorch twins on in-memory batches; returns {model: ratio} and prints a table."""
    import keras
    import tensorflow as tf

    from kasc.complexity.costs import audit_keras
    from kasc.training.distill import Distiller
    from kasc.models import build_model
    from kasc.data.batch_keys import LABELS

    peer = TorchPeer()
    runs = {}
    try:
        for name, (params, frames) in PEER_SHAPES.items():
            batch = args.batch_size if name == "serfr_cnn" else args.teacher_batch
            keras.utils.set_random_seed(0)
            model = build_model(name, (None, n_mels, 1), 10, **params)
            twin = peer.ask(op="counts", model=name, frames=frames, mels=n_mels)
            macs = audit_keras(model, (frames, n_mels, 1)).macs
            assert (twin["params"], twin["macs"]) == (model.count_params(), macs), (
                f"{name}: PyTorch twin has {twin} parameters/MACs, kasc {model.count_params()} / {macs}")
            distiller = Distiller(model)
            distiller.compile(optimizer=keras.optimizers.Adam(1e-3, weight_decay=1e-3))
            rng = np.random.default_rng(0)
            x = tf.constant(rng.standard_normal((batch, frames, n_mels, 1)).astype(np.float32))
            y = {LABELS: tf.one_hot(rng.integers(0, 10, batch), 10)}
            for _ in range(2):
                distiller.train_on_batch(x, y)
            runs[name] = (distiller, x, y, batch, frames, macs)
        steps = {name: max(2, args.steps // (1 if name == "serfr_cnn" else 4)) for name in runs}
        rates = {(name, who): [] for name in runs for who in ("kasc", "PyTorch", "PyTorch channels-last")}
        for _ in range(args.rounds):
            for name, (distiller, x, y, batch, frames, _) in runs.items():
                start = time.perf_counter()
                for _ in range(steps[name]):
                    distiller.train_on_batch(x, y)
                rates[(name, "kasc")].append(steps[name] * batch / (time.perf_counter() - start))
                for layout, channels_last in (("PyTorch", False), ("PyTorch channels-last", True)):
                    seconds = peer.ask(op="time", model=name, batch=batch, frames=frames, mels=n_mels,
                                       channels_last=channels_last, steps=steps[name])["seconds"]
                    rates[(name, layout)].append(steps[name] * batch / seconds)
    finally:
        peer.close()
    import torch

    print(f"\nkasc vs PyTorch {torch.__version__} twins (same layers, parameters and MACs, asserted), one in-memory "
          f"batch, median of {args.rounds} interleaved rounds:")
    ratios = {}
    for name, (*_, batch, frames, macs) in runs.items():
        per_round = [k / max(a, b) for k, a, b in zip(rates[(name, "kasc")], rates[(name, "PyTorch")],
                                                     rates[(name, "PyTorch channels-last")])]
        ratios[name] = float(np.median(per_round))
        medians = {who: float(np.median(rates[(name, who)])) for who in ("kasc", "PyTorch", "PyTorch channels-last")}
        print(f"  {name:<12} {frames} frames, batch {batch:<3} kasc {medians['kasc']:7.1f}  PyTorch "
              f"{medians['PyTorch']:7.1f}  PyTorch channels-last {medians['PyTorch channels-last']:7.1f} samples/s"
              f"  kasc / best PyTorch {ratios[name]:.2f}x (target >= {TORCH_TARGETS[name]}): "
              f"{'met' if ratios[name] >= TORCH_TARGETS[name] else 'NOT met'}")
    return ratios


def _scaling_distiller(strategy):
    """SERFR-CNN-32 in a Distiller (Adam, weight decay) built in ``strategy``'s scope."""
    import keras

    from kasc.training.distill import Distiller
    from kasc.models import build_model

    with strategy.scope():
        keras.utils.set_random_seed(0)
        distiller = Distiller(build_model("serfr_cnn", (None, 256, 1), 10))
        distiller.compile(optimizer=keras.optimizers.Adam(1e-3, weight_decay=1e-3))
        distiller.build_for_training((None, 256, 1))
    return distiller


def _random_batch(batch_size: int, seed: int):
    """One in-memory batch: (log-mel (batch, 28, 256, 1), {LABELS: one-hot (batch, 10)})."""
    import tensorflow as tf

    from kasc.data.batch_keys import LABELS

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal((batch_size, 28, 256, 1)).astype(np.float32))
    return x, {LABELS: tf.one_hot(rng.integers(0, 10, batch_size), 10)}


def _print_scaling(args, rates: dict, setting: str, ratio: str) -> None:
    """The median samples/s of two setups (one, then two replicas or workers) and their ratio."""
    median = {name: float(np.median(r)) for name, r in rates.items()}
    print(f"SERFR-CNN-32, global batch {args.batch_size}, {args.steps} steps x {args.rounds} rounds, "
          f"{os.cpu_count()} CPU cores {setting}:")
    for name, value in median.items():
        print(f"  {name:<26} {value:8.1f} samples/s")
    one, two = median.values()
    print(f"  {ratio}: {two / one:.2f}x (the same 2 cores: expect contention, not speed-up)")


def strategy_scaling(args) -> None:
    """samples/s of SERFR-CNN-32 on one replica and mirrored over two logical CPU devices."""
    from kasc.training.distribute import make_strategy, split_cpu

    split_cpu(2)
    x, y = _random_batch(args.batch_size, 0)
    setups = {}
    for name, devices in (("1 replica (default)", ()), ("2 replicas (mirrored)", ("/cpu:0", "/cpu:1"))):
        distiller = _scaling_distiller(make_strategy("default" if not devices else "mirrored", devices))
        for _ in range(2):
            distiller.train_on_batch(x, y)  # trace
        setups[name] = distiller
    rates = {name: [] for name in setups}
    for _ in range(args.rounds):
        for name, distiller in setups.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                distiller.train_on_batch(x, y)
            rates[name].append(args.steps * args.batch_size / (time.perf_counter() - start))
    _print_scaling(args, rates, "split into 2 logical devices, rounds interleaved", "2 replicas / 1 replica")


def _measure_in_process(args) -> None:
    """One process of ``--strategy multi_worker``: time SERFR-CNN-32 steps on this worker's
    part of the global batch; the chief prints {"samples_per_second": global rate}."""
    from kasc.training.distribute import make_strategy, worker_role

    strategy = make_strategy(args.measure)
    role = worker_role(args.measure)
    local = args.batch_size // role.count
    x, y = _random_batch(local, role.index)
    distiller = _scaling_distiller(strategy)
    for _ in range(3):
        distiller.train_on_batch(x, y)  # trace
    start = time.perf_counter()
    for _ in range(args.steps):
        distiller.train_on_batch(x, y)
    rate = args.steps * local * role.count / (time.perf_counter() - start)
    if role.is_chief:
        print(json.dumps({"samples_per_second": rate}))


def worker_scaling(args) -> None:
    """samples/s of SERFR-CNN-32 in one process and in two worker processes."""
    import subprocess

    from kasc.training.distribute import local_tf_configs

    def start(strategy: str, n: int) -> list:
        command = [sys.executable, __file__, "--measure", strategy, "--steps", str(args.steps),
                   "--batch-size", str(args.batch_size)]
        tf_configs = local_tf_configs(n) if strategy == "multi_worker" else [None] * n
        return [subprocess.Popen(command, env={**os.environ, **({"TF_CONFIG": c} if c else {})},
                                 stdout=subprocess.PIPE, text=True) for c in tf_configs]

    def rate(processes: list) -> float:
        outputs = []
        for process in processes:
            out, _ = process.communicate(timeout=600)
            if process.returncode:
                raise SystemExit(f"a measuring process failed (exit {process.returncode})")
            outputs += [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(outputs[0])["samples_per_second"]

    rates = {"1 process (default)": [], "2 workers (multi_worker)": []}
    for _ in range(args.rounds):
        rates["1 process (default)"].append(rate(start("default", 1)))
        rates["2 workers (multi_worker)"].append(rate(start("multi_worker", 2)))
    _print_scaling(args, rates, "shared by the processes", "2 workers / 1 process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per mode (median reported)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--config", default="submission3", help="config giving data, front end and augmentation")
    parser.add_argument("--teacher-batch", type=int, default=16, help="batch of the MobileNetV2 teacher vs PyTorch")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--threads", default=None, metavar="INTRA,INTER",
                        help="TensorFlow thread pools (default: the config's train.intra_op_threads/inter_op_threads)")
    parser.add_argument("--strategy", choices=("mirrored", "multi_worker"), default=None,
                        help="measure 1 replica against 2 mirrored replicas on 2 logical CPU devices, or against "
                             "2 worker processes, instead")
    parser.add_argument("--measure", choices=("default", "multi_worker"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _measure_in_process(args)
        return
    if args.strategy == "mirrored":
        strategy_scaling(args)
        return
    if args.strategy == "multi_worker":
        worker_scaling(args)
        return

    import keras

    from kasc.complexity.costs import audit_keras
    from kasc.config import load_config
    from kasc.data.pipeline import Pipeline, prepare_splits
    from kasc.training.distill import Distiller
    from kasc.data.batch_keys import SOFT_TARGETS
    from kasc.data.features import LogMel
    from kasc.models import build_model
    from kasc.models.ensemble import tempered_average
    from kasc.training.teachers.soft_targets import predict_logits

    from kasc.training.runtime import set_cpu_threads

    cfg = load_config(args.config)
    intra, inter = ((int(v) for v in args.threads.split(",")) if args.threads
                    else (cfg.train.intra_op_threads, cfg.train.inter_op_threads))
    set_cpu_threads(intra, inter)
    data = full_batches(prepare_splits(cfg.data, splits=("train",), progress=False)["train"], args.batch_size)
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    n_classes = len(data.class_names)
    shape = (None, cfg.features.n_mels, 1)

    def student():
        keras.utils.set_random_seed(0)
        return build_model("serfr_cnn", shape, n_classes, width=32)

    teachers = [build_model(arch, shape, n_classes) for arch in ("mobilenetv2", "cnn_teacher", "bc_resnet")]
    start = time.perf_counter()
    logits = [predict_logits(t, data.waveforms, logmel) for t in teachers]
    cache_seconds = time.perf_counter() - start
    soft = np.asarray(tempered_average(logits, cfg.distill.temperature))

    import tensorflow as tf

    def distiller_for(mode: str):
        distiller = Distiller(student(), teachers if mode == "online KD" else (), temperature=cfg.distill.temperature,
                              label_weight=cfg.distill.label_weight)
        distiller.compile(optimizer=keras.optimizers.Adam(1e-3, weight_decay=1e-3))
        return distiller

    import tempfile

    from kasc.data.logmel_cache import cached_logmel

    with tempfile.TemporaryDirectory() as tmp:  # the log-mel cache as train.py builds it (data.cache_logmel)
        spectra = np.asarray(cached_logmel(data.waveforms, logmel, tmp, progress=False))
    one_batch = next(iter(Pipeline(data, logmel, args.batch_size).training(cfg.augment, seed=0)))
    setups = {"plain, one in-memory batch (no pipeline)": (distiller_for("plain"), iter(
        tf.data.Dataset.from_tensors(one_batch).repeat()))}
    setups["plain, log-mel computed per batch"] = (distiller_for("plain"), iter(
        Pipeline(data, logmel, args.batch_size).training(cfg.augment, seed=0)))
    for mode in ("plain", "cached KD", "online KD"):
        extra = {SOFT_TARGETS: soft} if mode == "cached KD" else None
        pipeline = Pipeline(data, logmel, args.batch_size, extra, spectra=spectra)
        setups[mode] = (distiller_for(mode), iter(pipeline.training(cfg.augment, seed=0)))
    for distiller, iterator in setups.values():  # trace every train function before timing
        timed_steps(distiller, iterator, 4)
    per_clip = {mode: [] for mode in setups}
    for _ in range(args.rounds):  # modes interleaved, so that machine noise hits them alike
        for mode, (distiller, iterator) in setups.items():
            seconds, clips = timed_steps(distiller, iterator, args.steps)
            per_clip[mode].append(seconds / clips)
    results = {mode: 1.0 / float(np.median(t)) for mode, t in per_clip.items()}
    ratios = {mode: float(np.median(np.array(t) / np.array(per_clip["plain"]))) for mode, t in per_clip.items()}

    macs = audit_keras(student(), (28, cfg.features.n_mels, 1)).macs
    flops_per_sample = 3 * 2 * macs
    gflops = sgemm_gflops()
    achieved = results["plain"] * flops_per_sample / 1e9
    alone = results["plain, one in-memory batch (no pipeline)"] * flops_per_sample / 1e9
    import tensorflow as tf

    print(f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, TensorFlow threads: "
          f"{intra or 'default'} per op, {inter or 'default'} ops at once")
    print(f"training SERFR-CNN-32, batch {args.batch_size}, median of {args.rounds} interleaved epochs of "
          f"{args.steps} steps per mode, "
          f"{len(data)} clips of {args.config}'s training split, {os.cpu_count()} CPU cores")
    for mode, rate in results.items():
        print(f"  {mode:<42} {rate:8.1f} samples/s   time per clip / plain {ratios[mode]:5.2f}x")
    ratio = ratios["cached KD"]
    print(f"cached-KD epoch / plain epoch = {ratio:.2f}x (target <= {CACHED_KD_TARGET_RATIO}): "
          f"{'met' if ratio <= CACHED_KD_TARGET_RATIO else 'NOT met'}")
    print(f"teacher logits for the cache: {cache_seconds:.1f} s for {len(data)} clips x 3 teachers (once per teacher)")
    print(f"numpy SGEMM (2048^2 float32): {gflops:.1f} GFLOP/s")
    print(f"student training: {macs / 1e6:.2f} M MACs forward -> {flops_per_sample / 1e6:.0f} MFLOP per sample, "
          f"{achieved:.2f} GFLOP/s = {achieved / gflops:.1%} of SGEMM with the pipeline, "
          f"{alone:.2f} GFLOP/s = {alone / gflops:.1%} without it "
          f"(target >= {SGEMM_FRACTION_TARGET:.0%} without it: {'met' if alone / gflops >= SGEMM_FRACTION_TARGET else 'NOT met'})")
    pipeline_ratio = results["plain"] / results["plain, one in-memory batch (no pipeline)"]
    print(f"through the pipeline / in memory = {pipeline_ratio:.2f}x (target >= 0.9): "
          f"{'met' if pipeline_ratio >= 0.9 else 'NOT met'}")
    if not args.no_torch:
        torch_comparison(args, cfg.features.n_mels)


if __name__ == "__main__":
    main()
