"""What consistent distillation costs on this CPU: online teachers against a bank of
pre-drawn views, and float32 against mixed_bfloat16 training.

Usage: python benchmarks/distill_costs.py [--rounds 5] [--steps 6] [--batch-size 64]
       [--clip-seconds 4] [--clips 873] [--views 64] [--epochs 300]

From one run, rounds interleaved (this machine is noisy), medians reported:

- the student's training throughput (SERFR-CNN-32, ``Distiller.train_on_batch`` on one
  in-memory log-mel batch of ``--clip-seconds`` clips, 16 kHz, 256 mels) under the
  ``float32`` and the ``mixed_bfloat16`` Keras policy, and their ratio;
- each teacher's inference throughput on ``--clip-seconds`` clips through its own front end
  (waveform -> log-mel -> logits, as a teacher labels a view): the AudioSet-pretrained
  EfficientAT mn04 (32 kHz, 128 Kaldi mels) and the half-width CNN teacher (16 kHz,
  256 mels), untrained (speed does not depend on the weights).

Then, for ``--clips`` training clips and a run of ``--epochs`` epochs, what each way of
giving teacher and student the same audio costs:

- online: every epoch the teachers label every clip's new view (teacher time per epoch
  added to the student's), so the whole run pays epochs x clips teacher passes;
- a bank of ``--views`` views per clip: the teachers label clips x views views once (the
  run then trains at the student's cached-target speed).

The figures are what ``docs/studies/distillation.md`` quotes to choose the bank.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round and mode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--clip-seconds", type=float, default=4.0)
    parser.add_argument("--clips", type=int, default=873, help="training clips (UrbanSound8K fold 1: 873)")
    parser.add_argument("--views", type=int, default=64, help="views per clip in the bank")
    parser.add_argument("--epochs", type=int, default=300, help="epochs of the run being costed")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from kasc.config import load_config
    from kasc.training.distill import Distiller
    from kasc.data.features import LogMel
    from kasc.models import build_model, logits_model
    from kasc.training.runtime import cpu_summary
    from kasc.data.batch_keys import LABELS

    student_cfg = load_config("us8k_plain_student")
    mn04_cfg = load_config("us8k_teacher_mn04_probe")
    cnn_cfg = load_config("us8k_teacher_cnn")
    rng = np.random.default_rng(0)
    b = args.batch_size

    def student_step(policy: str):
        keras.mixed_precision.set_global_policy(policy)
        logmel = LogMel(student_cfg.features, student_cfg.data.sample_rate)
        shape = logmel.output_shape(int(args.clip_seconds * student_cfg.data.sample_rate))
        model = build_model("serfr_cnn", (None, *shape[1:]), 10, width=32)
        keras.mixed_precision.set_global_policy("float32")
        distiller = Distiller(model)
        distiller.compile(optimizer=keras.optimizers.Adam(1e-3, weight_decay=1e-3))
        x = rng.normal(size=(b, *shape)).astype(np.float32)
        y = {LABELS: np.eye(10, dtype=np.float32)[rng.integers(0, 10, b)]}
        for _ in range(2):
            distiller.train_on_batch(x, y)

        def run() -> float:
            start = time.perf_counter()
            for _ in range(args.steps):
                distiller.train_on_batch(x, y)
            return args.steps * b / (time.perf_counter() - start)
        return run

    def teacher_pass(cfg, name: str, policy: str = "float32", batch: int = 32):
        rate = cfg.data.sample_rate
        logmel = LogMel(cfg.features, rate)
        samples = int(args.clip_seconds * rate)
        keras.mixed_precision.set_global_policy(policy)
        model = build_model(cfg.model.architecture, (None, cfg.features.n_mels, 1), 10, **cfg.model.params)
        keras.mixed_precision.set_global_policy("float32")
        logits = logits_model(model)
        waves = tf.constant(rng.uniform(-0.1, 0.1, size=(batch, samples)).astype(np.float32))

        @tf.function(reduce_retracing=True)
        def label(w):
            return logits(logmel(w), training=False)

        label(waves)

        def run() -> float:
            start = time.perf_counter()
            for _ in range(args.steps):
                label(waves).numpy()
            return args.steps * batch / (time.perf_counter() - start)
        return run

    modes = {
        "student float32": student_step("float32"),
        "student mixed_bfloat16": student_step("mixed_bfloat16"),
        "teacher mn04 @32 kHz (inference)": teacher_pass(mn04_cfg, "mn04"),
        "teacher CNN half width @16 kHz (inference)": teacher_pass(cnn_cfg, "cnn"),
        # the settings a view bank could label with (kasc labels in float32, batches of 32)
        "teacher mn04 @32 kHz, batch 128": teacher_pass(mn04_cfg, "mn04", batch=128),
        "teacher mn04 @32 kHz, mixed_bfloat16": teacher_pass(mn04_cfg, "mn04", "mixed_bfloat16"),
        "teacher CNN @16 kHz, batch 128": teacher_pass(cnn_cfg, "cnn", batch=128),
        "teacher CNN @16 kHz, mixed_bfloat16": teacher_pass(cnn_cfg, "cnn", "mixed_bfloat16"),
    }
    rates = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, run in modes.items():
            rates[name].append(run())
    median = {name: float(np.median(r)) for name, r in rates.items()}
    print(f"# {cpu_summary()}; {args.clip_seconds:g} s clips, student batch {b}, {args.rounds} rounds x {args.steps} steps")
    for name, value in median.items():
        print(f"{name:45s} {value:8.1f} clips/s (rounds: {', '.join(f'{v:.0f}' for v in rates[name])})")
    ratio = np.median(np.array(rates["student mixed_bfloat16"]) / np.array(rates["student float32"]))
    print(f"mixed_bfloat16 / float32 student throughput: {ratio:.2f}x (median of per-round ratios)")
    for teacher, base in (("mn04 @32 kHz", "teacher mn04 @32 kHz (inference)"),
                          ("CNN @16 kHz", "teacher CNN half width @16 kHz (inference)")):
        for setting in ("batch 128", "mixed_bfloat16"):
            faster = np.median(np.array(rates[f"teacher {teacher}, {setting}"]) / np.array(rates[base]))
            print(f"teacher {teacher}: {setting} / float32 batch 32 throughput: {faster:.2f}x")

    student_epoch = args.clips / median["student float32"]
    teachers = {"mn04": median["teacher mn04 @32 kHz (inference)"],
                "CNN": median["teacher CNN half width @16 kHz (inference)"]}
    per_clip = {name: 1.0 / rate for name, rate in teachers.items()}
    print(f"\nper epoch of {args.clips} clips: student training {student_epoch:.1f} s (network only)")
    for members in (["mn04"], ["mn04", "mn04"], ["mn04", "mn04", "CNN"]):
        teacher_clip = sum(per_clip[m] for m in members)
        online_epoch = student_epoch + args.clips * teacher_clip
        online_run = args.epochs * online_epoch
        bank = args.views * args.clips * teacher_clip
        bank_run = args.epochs * student_epoch + bank
        print(f"teachers {'+'.join(members):13s}: online {online_epoch:5.1f} s/epoch, {online_run / 60:6.1f} min "
              f"for {args.epochs} epochs; bank of {args.views} views {bank / 60:5.1f} min once, run "
              f"{bank_run / 60:6.1f} min ({online_run / bank_run:.1f}x faster)")


if __name__ == "__main__":
    main()
