"""The plain reference recipe of the evidence table: log-mel statistics and a linear model.

Usage: python experiments/logmel_logreg.py [CONFIG] [--out saved_models/NAME_logmel_logreg]

For every clip of the config's training and validation splits (the same cached audio and
the same report front end as the networks): the mean and the standard deviation over time
of each mel band of the log-mel (2 x n_mels numbers), standardised with the training
clips' statistics, then a scikit-learn multinomial logistic regression fitted on the
training clips, its L2 strength C chosen among 10 values by 5-fold cross-validated log loss
on the training clips alone (folds grouped by source recording where the file names tell
it, as UrbanSound8K's ``<fsID>-<class>-<occurrence>-<slice>`` do, so that slices of one
recording never sit on both sides). Validation figures are computed by ``kasc.evaluation.metrics`` exactly as for the
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

from kasc.evaluation.floor import logmel_statistics  # noqa: E402  (kasc's floor computes the same features)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default="us8k")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--group-pattern", default=r"^(\d+)-",
                        help="regex whose first group in a file name names its source recording (CV groups)")
    args = parser.parse_args()

    import re

    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from kasc.files.atomic import write_json
    from kasc.config import load_config
    from kasc.data.pipeline import prepare_splits
    from kasc.data.features import LogMel
    from kasc.evaluation.metrics import classification_metrics

    cfg = load_config(args.config)
    out = args.out or REPO / "saved_models" / f"{cfg.name}_logmel_logreg"
    started = time.monotonic()
    splits = prepare_splits(cfg.data)
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    train, valid = splits["train"], splits["valid"]
    names = [Path(paths[0]).name for paths in train.table["paths"]]
    matches = [re.match(args.group_pattern, name) for name in names]
    if all(matches):
        groups, folds = [m.group(1) for m in matches], GroupKFold(5)
    else:
        groups, folds = None, StratifiedKFold(5, shuffle=True, random_state=0)
    features = logmel_statistics(train.waveforms, logmel)
    splits_cv = list(folds.split(features, train.labels, groups))
    regression = LogisticRegressionCV(Cs=10, cv=splits_cv, scoring="neg_log_loss", max_iter=5000, l1_ratios=(0.0,),
                                      use_legacy_attributes=True)
    model = make_pipeline(StandardScaler(), regression)
    model.fit(features, train.labels)
    chosen_c = float(regression.C_[0])
    probabilities = np.zeros((len(valid), len(train.class_names)))
    probabilities[:, model.classes_] = model.predict_proba(logmel_statistics(valid.waveforms, logmel))
    metrics = classification_metrics(valid.labels, probabilities, train.class_names)
    recipe = (f"log-mel mean+std -> LogisticRegression(C={chosen_c:.3g}, chosen by 5-fold "
              f"{'grouped ' if groups else ''}CV log loss on the training clips)")
    metrics.update({"run": f"{cfg.name}_logmel_logreg", "recipe": recipe,
                    "class_names": train.class_names, "train_clips": len(train),
                    "train_seconds": round(time.monotonic() - started, 1), "finished": True})
    write_json(out / "metrics.json", metrics)
    print(f"{cfg.name}: {recipe}, {len(train)} training clips: validation "
          f"accuracy {metrics['accuracy']:.3f}, class-macro accuracy {metrics['macro_class_accuracy']:.3f}, "
          f"log loss {metrics['log_loss']:.3f} ({len(valid)} clips); written {out / 'metrics.json'}")


if __name__ == "__main__":
    main()
