"""The table of experiments/teacher_finetune/run.sh: validation accuracy and log loss of each
arm (probe, ft, ft_bntrained) per direction, mean over the seeds that finished.

Usage: python experiments/teacher_finetune/table.py
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "runs"


def main() -> None:
    results = defaultdict(list)  # (arm, direction) -> [(seed, accuracy, log loss)]
    for metrics_file in sorted(RUNS.glob("*/metrics.json")):
        metrics = json.loads(metrics_file.read_text())
        match = re.fullmatch(r"(\w+)--fold(\d)to(\d)--seed(\d+)", metrics_file.parent.name)
        if not match or not metrics.get("finished"):
            continue
        arm, train, valid, seed = match.groups()
        results[arm, f"{train}→{valid}"].append((int(seed), metrics["accuracy"], metrics["log_loss"]))
    print("| arm | direction | seeds | accuracy (each) | mean accuracy | mean log loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (arm, direction), rows in sorted(results.items()):
        rows.sort()
        accuracies = [a for _, a, _ in rows]
        print(f"| {arm} | {direction} | {', '.join(str(s) for s, _, _ in rows)} | "
              f"{', '.join(f'{a:.3f}' for a in accuracies)} | {sum(accuracies) / len(rows):.3f} | "
              f"{sum(l for _, _, l in rows) / len(rows):.3f} |")


if __name__ == "__main__":
    main()
