"""The tables of experiments/own_data_cv/run.sh, from the runs that finished:

1. own_data (distilled) against own_data_plain per data set and direction: each seed's
   validation accuracy, the means, the paired gain (seeds both arms finished), int8
   accuracy and log loss;
2. what the distilled runs were given: each teacher's validation accuracy, their
   ensemble's, the floor (log-mel statistics + logistic regression), the teachers kept;
3. time: wall time of each run (metrics.json session_seconds: data, teachers, their logits,
   training, export and evaluation); runs resumed in a later session are left out (their
   session_seconds cover the last session only). Seed 0's distilled run trains its teachers
   inside, as a user's run does; later seeds find them trained (the study shares them);
4. which teachers should teach (teacher_subset.sh): own_data with both teachers against the
   AudioSet teacher alone (own_data_mn04only), same seeds and teacher runs;
5. the teachers' share and the views' share (ARMS=own_data_plain_views): own_data_plain
   against own_data_plain_views (the same views as own_data, no teachers) against the
   distilled arms, each difference paired by seed.

Usage: python experiments/own_data_cv/table.py
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "runs"
NAME = re.compile(r"(?P<arm>own_data(?:_plain_views|_plain|_mn04only)?)--(?P<set>\w+)--fold(?P<t>\d)to(?P<v>\d)--seed(?P<seed>\d+)")


def finished_runs() -> dict:
    """(set, direction, arm) -> {seed: metrics}."""
    runs = defaultdict(dict)
    for metrics_file in sorted(RUNS.glob("*/metrics.json")):
        match = NAME.fullmatch(metrics_file.parent.name)
        metrics = json.loads(metrics_file.read_text())
        if match and metrics.get("finished"):
            runs[match["set"], f"{match['t']}→{match['v']}", match["arm"]][int(match["seed"])] = metrics
    return runs


def mean(values) -> str:
    values = list(values)
    return f"{statistics.mean(values):.3f}" if values else "-"


def seconds(metrics: dict) -> float | None:
    """A run's wall time, session_seconds (data, teachers, training, export, evaluation), or
    None for a run resumed in a later session: its session_seconds cover only the last
    session (less than the training time summed over sessions, train_seconds)."""
    session, training = metrics.get("session_seconds"), metrics.get("train_seconds")
    return None if session is None or (training and session < training) else float(session)


def main() -> None:
    runs = finished_runs()
    keys = sorted({(s, d) for s, d, _ in runs})
    print("| data | direction | plain, per seed | distilled, per seed | plain mean | distilled mean | paired gain "
          "(points) | int8 plain / distilled | log loss plain / distilled |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for set_name, direction in keys:
        plain, distilled = runs.get((set_name, direction, "own_data_plain"), {}), runs.get((set_name, direction, "own_data"), {})
        int8 = lambda arm: mean(m.get("int8", {}).get("accuracy") for m in arm.values() if m.get("int8"))
        print(f"| {set_name} | {direction} | {per_seed(plain)} | {per_seed(distilled)} | {accuracy(plain)} "
              f"| {accuracy(distilled)} | {paired_gain(distilled, plain)} | {int8(plain)} / {int8(distilled)} | "
              f"{mean(m['log_loss'] for m in plain.values())} / {mean(m['log_loss'] for m in distilled.values())} |")
    print("\n| data | direction | teachers (validation accuracy) | ensemble | floor | kept | given |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for set_name, direction in keys:
        for seed, metrics in sorted(runs.get((set_name, direction, "own_data"), {}).items())[:1]:
            record = metrics.get("distillation") or {}
            teachers = ", ".join(f"{name.removeprefix('own_data_teacher_')} {score:.3f}"
                                 for name, score in (record.get("teachers") or {}).items())
            ensemble, floor = record.get("ensemble"), (record.get("floor") or {}).get("accuracy")
            print(f"| {set_name} | {direction} | {teachers or '-'} | {f'{ensemble:.3f}' if ensemble else '-'} | "
                  f"{f'{floor:.3f}' if floor else '-'} | {', '.join(record.get('kept', [])) or '-'} | "
                  f"{record.get('given', '-')} |")
    print("\n| data | direction | plain run, s (mean) | distilled run, seed 0 (its teachers trained inside), s | "
          "distilled runs, later seeds (teachers reused), s (mean) | seed 0: distilled / plain |")
    print("| --- | --- | --- | --- | --- | --- |")
    for set_name, direction in keys:
        plain = runs.get((set_name, direction, "own_data_plain"), {})
        distilled = runs.get((set_name, direction, "own_data"), {})
        later = [t for seed, m in distilled.items() if seed != 0 and (t := seconds(m)) is not None]
        first = seconds(distilled[0]) if 0 in distilled else None
        plain_first = seconds(plain[0]) if 0 in plain else None
        ratio = f"{first / plain_first:.1f}x" if first and plain_first else "-"
        plain_times = [t for m in plain.values() if (t := seconds(m)) is not None]
        print(f"| {set_name} | {direction} | {mean(plain_times).split('.')[0] if plain_times else '-'} | "
              f"{f'{first:.0f}' if first else '-'} | {mean(later).split('.')[0] if later else '-'} | {ratio} |")

    subsets = with_arm(runs, keys, "own_data_mn04only", "both teachers, per seed", "mn04 alone, per seed", "both mean",
                       "mn04 alone mean", "paired difference, mn04 alone - both (points)")
    for set_name, direction in subsets:
        both, alone = runs[set_name, direction, "own_data"], runs[set_name, direction, "own_data_mn04only"]
        print(f"| {set_name} | {direction} | {per_seed(both)} | {per_seed(alone)} | {accuracy(both)} | {accuracy(alone)} "
              f"| {paired_gain(alone, both)} |")

    shares = with_arm(runs, keys, "own_data_plain_views", "plain mean", "plain on own_data's views, per seed",
                      "views mean", "both teachers mean", "mn04 alone mean", "views - plain (points)",
                      "both teachers - views", "mn04 alone - views")
    for set_name, direction in shares:
        arm = lambda name: runs.get((set_name, direction, name), {})
        plain, views, both, alone = arm("own_data_plain"), arm("own_data_plain_views"), arm("own_data"), arm("own_data_mn04only")
        print(f"| {set_name} | {direction} | {accuracy(plain)} | {per_seed(views)} | {accuracy(views)} | {accuracy(both)} "
              f"| {accuracy(alone)} | {paired_gain(views, plain)} | {paired_gain(both, views)} | {paired_gain(alone, views)} |")


def with_arm(runs: dict, keys: list, arm: str, *columns: str) -> list:
    """The (set, direction) pairs where ``arm`` has finished runs; if there are any, a table
    header is printed first, with the columns data, direction and ``columns``."""
    found = [(set_name, direction) for set_name, direction in keys if runs.get((set_name, direction, arm))]
    if found:
        print("\n| data | direction | " + " | ".join(columns) + " |")
        print("|" + " --- |" * (len(columns) + 2))
    return found


def accuracy(arm: dict) -> str:
    """The arm's mean validation accuracy over its seeds."""
    return mean(m["accuracy"] for m in arm.values())


def per_seed(arm: dict) -> str:
    """Each seed's validation accuracy: ``0.512 (s0), ...``."""
    return ", ".join(f"{arm[s]['accuracy']:.3f} (s{s})" for s in sorted(arm)) or "-"


def paired_gain(better: dict, base: dict) -> str:
    """Mean accuracy difference better - base in points over the seeds both finished, and how many."""
    paired = sorted(set(better) & set(base))
    if not paired:
        return "-"
    return f"{100 * statistics.mean(better[s]['accuracy'] - base[s]['accuracy'] for s in paired):+.1f} ({len(paired)} seeds)"


if __name__ == "__main__":
    main()
