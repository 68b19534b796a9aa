"""Throughput of kasc's training input pipeline against per-clip librosa log-mel.

Usage: python benchmarks/pipeline.py [--clips 3000] [--batch-size 64]

From one run over the same clips (the shared TAU22 mini set's training split, 1 s at
16 kHz, cycled): clips/s of the full training pipeline (memory-mapped int16 cache ->
log-mel with tf.signal -> time stretch, mixup, time/frequency masks -> batches), and
clips/s of librosa log-mel computed one clip at a time from the same in-memory
waveforms (the way the DCASE 2023 baseline extracts features, here without its file
decoding, which only favours librosa), and their ratio. Then the cost of DIR
augmentation (``augment.dir_prob``, each clip convolved with a microphone impulse
response from ``../shared/data/dirs`` by FFT): the same pipeline with and without it,
timed in alternation, and their ratio.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=3000, help="clips timed per method")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import librosa

    from kasc.config import load_config
    from kasc.data.audio import from_int16
    from kasc.data.pipeline import Pipeline, prepare_splits
    from kasc.data.features import LogMel

    cfg = load_config("default", [
        "augment.mixup_prob=1.0", "augment.stretch_prob=0.5", "augment.freq_masks=2",
        "augment.freq_mask_max_bins=24", "augment.time_masks=1", "augment.time_mask_max_frames=4"])
    train = prepare_splits(cfg.data, splits=("train",), progress=False)["train"]
    f = cfg.features
    waveforms = train.waveforms
    librosa_clips = min(args.clips, 1000)
    start = time.perf_counter()
    for i in range(librosa_clips):
        y = from_int16(waveforms[i % len(waveforms)])
        mel = librosa.feature.melspectrogram(y=y, sr=cfg.data.sample_rate, n_fft=f.n_fft, hop_length=f.hop_samples,
                                             n_mels=f.n_mels, center=False, power=2.0)
        np.log(mel + f.log_offset)
    librosa_rate = librosa_clips / (time.perf_counter() - start)


    # kasc's pipeline is timed after librosa: tf.data threads that outlive an iterator
    # must not steal CPU from the per-clip loop.
    pipeline = Pipeline(train, LogMel(cfg.features, cfg.data.sample_rate), args.batch_size)
    stream = pipeline.training(cfg.augment, seed=0)
    batches = -(-args.clips // args.batch_size)
    for _ in stream.take(3):  # warm-up: tracing and the first prefetch
        pass
    start = time.perf_counter()
    seen = 0
    for x, _ in stream.take(batches):
        seen += int(x.shape[0])
    tf_seconds = time.perf_counter() - start
    tf_rate = seen / tf_seconds

    print(f"clips: {len(train)} real 1 s TAU clips at {cfg.data.sample_rate} Hz, cycled; batch {args.batch_size}; "
          f"{os.cpu_count()} CPU cores")
    print(f"kasc tf.data training pipeline (cache -> log-mel -> stretch, mixup, masks -> batches): "
          f"{tf_rate:8.0f} clips/s over {seen} clips")
    print(f"librosa log-mel one clip at a time (no decoding, no augmentation):                  "
          f"{librosa_rate:8.0f} clips/s over {librosa_clips} clips")
    print(f"ratio: {tf_rate / librosa_rate:.1f}x (target >= 3x)")
    dir_cost(cfg, train, args)


def _rate(stream, batches: int) -> float:
    start, seen = time.perf_counter(), 0
    for x, _ in stream.take(batches):
        seen += int(x.shape[0])
    return seen / (time.perf_counter() - start)


def dir_cost(cfg, train, args, rounds: int = 3) -> None:
    """clips/s of the training pipeline with DIR augmentation at p = 0.6 (CP-JKU's
    setting) against the same pipeline without it, rounds interleaved."""
    from kasc.config import resolve_path
    from kasc.data.impulse_responses import load_responses, response_files
    from kasc.data.pipeline import Pipeline
    from kasc.data.features import LogMel
    import dataclasses

    folder = resolve_path(cfg.augment.dir_folder)
    if not folder.is_dir():
        print(f"DIR cost: skipped ({folder} not found)")
        return
    files = response_files(folder, "training_half")
    responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs")
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    with_dir = dataclasses.replace(cfg.augment, dir_prob=0.6)
    streams = {"without DIR": Pipeline(train, logmel, args.batch_size).training(cfg.augment, seed=0),
               "with DIR (p = 0.6)": Pipeline(train, logmel, args.batch_size, impulse_responses=responses)
               .training(with_dir, seed=0)}
    batches = max(4, -(-args.clips // args.batch_size) // 2)
    rates = {name: [] for name in streams}
    for stream in streams.values():
        _rate(stream, 3)  # warm-up
    for _ in range(rounds):
        for name, stream in streams.items():
            rates[name].append(_rate(stream, batches))
    median = {name: float(np.median(r)) for name, r in rates.items()}
    print(f"DIR augmentation, {len(files)} responses of {responses.shape[1]} samples, median of {rounds} "
          f"interleaved rounds of {batches} batches:")
    for name, rate in median.items():
        print(f"  {name:<20} {rate:8.0f} clips/s")
    print(f"  cost: with / without = {median['with DIR (p = 0.6)'] / median['without DIR']:.2f}x the throughput")


if __name__ == "__main__":
    main()
