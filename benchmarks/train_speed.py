"""Training throughput of SERFR-CNN-32: plain, distilled with cached soft targets, and
distilled with online teachers; against the machine's float32 matrix-multiply rate.

Usage: python benchmarks/train_speed.py [--steps 20] [--rounds 5] [--batch-size 64]

From one run, on the shared TAU22 mini set's training clips (the real pipeline: cached
int16 audio -> log-mel -> mixup, masks, time stretch -> Distiller.train_step):

- samples/s (time inside ``train_on_batch`` only, so the pipeline runs ahead in its
  own threads as it does in ``fit``) of the plain student on one in-memory batch repeated (no pipeline: what the
  network alone costs), then of each mode with the pipeline: the median of ``--rounds``
  timed epochs of ``--steps`` steps, the modes interleaved round by round (this machine
  is noisy), after untimed steps that trace every function;
- the median over rounds of the ratio cached-KD time per clip / plain (target
  <= 1.3), and the same for online KD;
- numpy SGEMM GFLOP/s (2048 x 2048 float32 matmul, best of 5) and the student's achieved
  training FLOP/s, counted as 3 x 2 x forward MACs per sample (forward, plus a backward
  pass of about twice the forward cost), as a fraction of the SGEMM rate.

Teachers are the three report teachers, untrained (speed does not depend on the
weights); cached targets come from their logits computed once before timing.
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

CACHED_KD_TARGET_RATIO = 1.3


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
    clips, seconds = 0, 0.0
    for _ in range(steps):
        x, y = next(iterator)
        start = time.perf_counter()
        distiller.train_on_batch(x, y)
        seconds += time.perf_counter() - start
        clips += int(x.shape[0])
    return seconds, clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed epoch")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per mode (median reported)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--config", default="submission3", help="config giving data, front end and augmentation")
    args = parser.parse_args()

    import keras

    from kasc.complexity import audit_keras
    from kasc.config import load_config
    from kasc.data.pipeline import Pipeline, prepare_splits
    from kasc.distill import SOFT_TARGETS, Distiller
    from kasc.features import LogMel
    from kasc.models import build_model
    from kasc.models.ensemble import tempered_average
    from kasc.soft_targets import predict_logits

    cfg = load_config(args.config)
    data = prepare_splits(cfg, splits=("train",), progress=False)["train"]
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

    one_batch = next(iter(Pipeline(data, logmel, args.batch_size).training(cfg.augment, seed=0)))
    setups = {"plain, one in-memory batch (no pipeline)": (distiller_for("plain"), iter(
        tf.data.Dataset.from_tensors(one_batch).repeat()))}
    for mode in ("plain", "cached KD", "online KD"):
        extra = {SOFT_TARGETS: soft} if mode == "cached KD" else None
        setups[mode] = (distiller_for(mode), iter(Pipeline(data, logmel, args.batch_size, extra).training(cfg.augment, seed=0)))
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
          f"{alone:.2f} GFLOP/s = {alone / gflops:.1%} without it")


if __name__ == "__main__":
    main()
