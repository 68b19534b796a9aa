"""How much a distilled run's soft targets say beyond the labels, on its training clips.

Usage: python experiments/soft_target_stats.py CONFIG [CONFIG ...] [--profile fast]

For each config (a distilled student whose teacher runs are finished in ``saved_models/``),
the soft targets the student trains on (``kasc.training.teachers.targets.prepare_soft_targets``: the cached
teacher logits, cross-fitted where ``distill.cross_fit_parts`` is set, averaged at the
config's temperature) are compared with the labels of the training clips:

- top-1 agreement: share of clips whose soft target's top class is the label;
- label probability: mean probability the soft target gives the label;
- top probability: mean largest probability; entropy: mean entropy in nats
  (one-hot: 0; uniform over C classes: ln C).

Soft targets that agree with the label on every clip, with the same probability, carry
nothing but the label (and label smoothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def target_statistics(soft: np.ndarray, labels: np.ndarray) -> dict:
    """Agreement, label probability, top probability and entropy of soft targets (n, C)."""
    rows = np.arange(len(labels))
    entropy = -(soft * np.log(np.clip(soft, 1e-12, 1.0))).sum(axis=1)
    return {"clips": int(len(labels)), "top1_agreement": float((soft.argmax(axis=1) == labels).mean()),
            "label_probability": float(soft[rows, labels].mean()), "top_probability": float(soft.max(axis=1).mean()),
            "entropy_nats": float(entropy.mean())}


def teacher_runs(cfg, profile: str | None):
    """The finished teacher runs a student config distils from (held-out runs if cross-fitted)."""
    from kasc.config import load_config
    from kasc.training.teachers.cross_fit import held_out_configs
    from kasc.files.runs import RunDir, default_run_dir

    configs = [load_config(name, profile=profile) for name in cfg.distill.teachers]
    if cfg.distill.cross_fit_parts:
        configs = [c for teacher in configs for c in held_out_configs(cfg, teacher)]
    runs = [RunDir(default_run_dir(c, profile)) for c in configs]
    missing = [str(r.path) for r in runs if not r.is_finished()]
    if missing:
        raise SystemExit(f"error: teacher run(s) not finished: {', '.join(missing)} (train the student first)")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)

    from kasc.config import load_config
    from kasc.training.inputs import prepare_data
    from kasc.training.teachers.targets import prepare_soft_targets
    from kasc.data.batch_keys import SOFT_TARGETS

    print(f"{'config':40s} {'clips':>6s} {'top-1 = label':>14s} {'p(label)':>9s} {'p(top)':>7s} {'entropy':>8s}")
    for name in args.configs:
        cfg = load_config(name, profile=args.profile)
        if not cfg.distill.teachers:
            raise SystemExit(f"error: {name} names no teachers (distill.teachers is empty)")
        data = prepare_data(cfg, verbose=0)
        soft = prepare_soft_targets(cfg, data, teacher_runs(cfg, args.profile), verbose=0).extra[SOFT_TARGETS]
        stats = target_statistics(soft, data.splits["train"].labels)
        print(f"{name:40s} {stats['clips']:6d} {stats['top1_agreement']:14.3f} {stats['label_probability']:9.3f} "
              f"{stats['top_probability']:7.3f} {stats['entropy_nats']:8.3f}  (T = {cfg.distill.temperature:g})",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
