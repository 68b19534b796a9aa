"""Where the distilled student falls short of its teachers: by class, against how many
source recordings of that class it trained on.

Usage: python experiments/recordings_per_class.py [RUN...]
       (default: experiments/runs/us8k_consistent_*_student--fold*--seed?)

UrbanSound8K slices are cut from longer recordings (``fsID``): fold 1's 873 training clips
come from 134 recordings, as few as 5 for a class. Views mix and shift those clips but add
no new recording. For each direction and class this prints the number of training
recordings and clips, the teacher ensemble's, the distilled and the plain student's
accuracy on the validation fold (means over the seeds given), and the Spearman rank
correlation, over the classes of both directions, between the number of recordings and the
teachers' lead over the distilled student.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="*")
    parser.add_argument("--metadata", type=Path, default=Path("../shared/data/us8k-dev/metadata.csv"))
    args = parser.parse_args()
    from scipy.stats import spearmanr

    from kasc.evaluation.comparison import cv_run, markdown

    runs = args.runs or [Path(p) for p in sorted(glob.glob("experiments/runs/us8k_consistent_*_student--fold*--seed?"))]
    runs = [cv_run(p) for p in runs if (p / "metrics.json").is_file()]
    meta = pd.read_csv(args.metadata)
    rows = []
    for direction in sorted({r.direction for r in runs}):
        train_fold = int(direction.split()[1].split("→")[0])
        heard = meta[meta["fold"] == train_fold]
        kd = [r for r in runs if r.direction == direction and "_kd_" in r.name]
        plain = [r for r in runs if r.direction == direction and "_plain_" in r.name]
        teachers = [json.loads((r.path / "teachers.json").read_text())["ensemble"] for r in kd]
        for name in sorted(heard["class"].unique()):
            def mean(reports):
                return float(np.mean([m["per_class_accuracy"][name] for m in reports])) if reports else np.nan
            rows.append({"direction": direction, "class": name,
                         "training recordings": heard[heard["class"] == name]["fsID"].nunique(),
                         "training clips": int((heard["class"] == name).sum()),
                         "teachers": mean(teachers), "distilled": mean([r.metrics for r in kd]),
                         "plain": mean([r.metrics for r in plain]), "seeds": f"{len(kd)}/{len(plain)}"})
    table = pd.DataFrame(rows)
    table["teachers' lead"] = table["teachers"] - table["distilled"]
    cells = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    print(markdown(cells, list(table.columns)))
    rho, p = spearmanr(table["training recordings"], table["teachers' lead"])
    print(f"\nSpearman correlation, training recordings vs the teachers' lead over the distilled student "
          f"({len(table)} class-directions): {rho:.2f} (p = {p:.3f})")


if __name__ == "__main__":
    main()
