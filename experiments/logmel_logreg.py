"""The plain reference recipe of the evidence table: log-mel statistics and a linear model.

Usage: python experiments/logmel_logreg.py [CONFIG] [--out saved_models/NAME_logmel_logreg]

For every clip of the config's training and validation splits (the same cached audio and
the same report front end as the networks): the mean and the standard deviation over time
of each mel band of the log-mel (2 x n_mels numbers), standardised with the training
clips' statistics, then a scikit-learn multinomial logistic regression fitted on the
training clips. Validation figures are computed by ``kasc.metrics`` exactly as for the
networks and written to ``<out>/metrics.json`` (``kasc.compare`` lists the folder).
A network that does not beat this row has learned nothing a linear model on hand-made
statistics does not already get.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def logmel_statistics(waveforms: np.ndarray, logmel, batch_size: int = 64) -> np.ndarray:
    """(n, 2 * n_mels): per-band mean and standard deviation over time of each clip's log-mel."""
    from kasc.data.pipeline import logmel_batches

    rows = []
    for spectra in logmel_batches(waveforms, logmel, batch_size):
        spectra = spectra[..., 0]  # (b, frames, mels)
        rows.append(np.concatenate([spectra.mean(axis=1), spectra.std(axis=1)], axis=1))
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default="us8k")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 regularisation strength")
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from kasc.atomic import write_json
    from kasc.config import load_config
    from kasc.data.pipeline import prepare_splits
    from kasc.features import LogMel
    from kasc.metrics import classification_metrics

    cfg = load_config(args.config)
    out = args.out or REPO / "saved_models" / f"{cfg.name}_logmel_logreg"
    started = time.monotonic()
    splits = prepare_splits(cfg)
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    train, valid = splits["train"], splits["valid"]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=5000))
    model.fit(logmel_statistics(train.waveforms, logmel), train.labels)
    probabilities = np.zeros((len(valid), len(train.class_names)))
    probabilities[:, model.classes_] = model.predict_proba(logmel_statistics(valid.waveforms, logmel))
    metrics = classification_metrics(valid.labels, probabilities, train.class_names)
    metrics.update({"run": f"{cfg.name}_logmel_logreg", "recipe": f"log-mel mean+std -> LogisticRegression(C={args.C})",
                    "class_names": train.class_names, "train_clips": len(train),
                    "train_seconds": round(time.monotonic() - started, 1), "finished": True})
    write_json(out / "metrics.json", metrics)
    print(f"{cfg.name}: log-mel mean+std -> logistic regression on {len(train)} training clips: validation "
          f"accuracy {metrics['accuracy']:.3f}, class-macro accuracy {metrics['macro_class_accuracy']:.3f}, "
          f"log loss {metrics['log_loss']:.3f} ({len(valid)} clips); written {out / 'metrics.json'}")


if __name__ == "__main__":
    main()
