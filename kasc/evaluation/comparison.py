"""Tables of finished runs from their ``metrics.json`` (``python -m kasc.compare``): one row per
run, seeds of one config as mean ± sd, the teachers' ensemble, gains paired by seed, and
cross-validations (runs grouped by config, direction and seed)."""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from pathlib import Path

import yaml

from kasc.evaluation.output_csv import top1_agreement
from kasc.files.atomic import write_json
from kasc.files.runs import RunDir

SEED_SUFFIX = re.compile(r"^(?P<base>.+)_seed\d+$")
NOT_HELD_OUT = " (not held out: scored on training clips)"
"""After the name of a row whose validation clips were trained on (metrics.json ``held_out``)."""


def _held_out_marker(*results: dict) -> str:
    """``NOT_HELD_OUT`` if any of the results (metrics.json, a teachers.json row) says it is not held out."""
    return NOT_HELD_OUT * any(r.get("held_out") is False for r in results)


def _metrics(run: Path) -> dict:
    """A run folder's ``metrics.json``; a folder without one is an error naming it."""
    metrics = RunDir(run).metrics()
    if not metrics:
        raise FileNotFoundError(f"{RunDir(run).metrics_file}: missing or not JSON (is {run} a finished run?)")
    return metrics


def _cell(value, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def run_row(run: Path) -> list[str]:
    """Table cells of one run folder."""
    metrics = _metrics(run)
    int8 = metrics.get("int8", {}).get("accuracy")
    minutes = metrics.get("train_seconds")
    return [run.name + _held_out_marker(metrics), _cell(metrics.get("accuracy")),
            _cell(metrics.get("macro_class_accuracy")),
            _cell(metrics.get("log_loss")), _cell(int8), str(metrics.get("epochs", "-")),
            _cell(minutes / 60 if minutes is not None else None, "{:.0f} min")]


def _mean_sd(values: list, pattern: str = "{:.3f}") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return pattern.format(values[0])
    spread = pattern.replace("+", "")  # a spread has no sign, even where the means have one
    return f"{pattern.format(statistics.mean(values))} ± {spread.format(statistics.stdev(values))}"


def seeds_row(name: str, runs: list[Path]) -> list[str]:
    """One row for the same config trained with several seeds: mean ± sd of each figure."""
    metrics = [_metrics(run) for run in runs]
    minutes = [m["train_seconds"] / 60 for m in metrics if m.get("train_seconds") is not None]
    return [f"{name} ({len(runs)} seed{'s' * (len(runs) != 1)}){_held_out_marker(*metrics)}", _mean_sd([m.get("accuracy") for m in metrics]),
            _mean_sd([m.get("macro_class_accuracy") for m in metrics]), _mean_sd([m.get("log_loss") for m in metrics]),
            _mean_sd([m.get("int8", {}).get("accuracy") for m in metrics]), str(metrics[0].get("epochs", "-")),
            _cell(statistics.mean(minutes) if minutes else None, "{:.0f} min") + " each"]


def group_seeds(runs: list[Path]) -> list[tuple[str, list[Path]]]:
    """(row name, runs) in first-seen order; ``NAME_seed<N>`` joins ``NAME``'s group."""
    groups: dict[str, list[Path]] = {}
    for run in runs:
        match = SEED_SUFFIX.match(run.name)
        groups.setdefault(match["base"] if match else run.name, []).append(run)
    return list(groups.items())


def ensemble_row(run: Path) -> list[str]:
    """The ensemble row of a distilled run's ``teachers.json``."""
    ensemble = json.loads(RunDir(run).teachers_file.read_text())["ensemble"]
    return [f"ensemble of the teachers of {run.name}{_held_out_marker(ensemble)}", _cell(ensemble["accuracy"]),
            _cell(ensemble["macro_class_accuracy"]), _cell(ensemble["log_loss"]), "-", "-", "-"]


HEADER = ["run", "accuracy", "class-macro accuracy", "log loss", "int8 accuracy", "epochs", "training time"]


def markdown(rows: list[list[str]], header: list[str] = HEADER) -> str:
    """A markdown table, by default with the standard header."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def run_seed(run: Path) -> int:
    """``train.seed`` of a run folder's ``config.yaml``; a folder without one is an error naming it."""
    config_file = RunDir(run).config_file
    try:
        return int(yaml.safe_load(config_file.read_text())["train"]["seed"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{config_file}: no readable train.seed to pair runs by ({err})") from err


PAIRED_HEADER = ["run", "paired with", "seeds", "accuracy gain", "per seed", "seeds better",
                 "paired t-test p", "log loss change"]


def paired_row(name: str, runs: list[Path], baseline_name: str, baseline: dict[int, dict]) -> list[str]:
    """Gain of one row's runs over the baseline's runs of the same seeds (``baseline``:
    seed -> metrics; accuracy in points of a fraction, e.g. +0.041; log loss change
    negative when better)."""
    by_seed = {run_seed(run): _metrics(run) for run in runs}
    seeds = sorted(set(by_seed) & set(baseline))
    if not seeds:
        return [name, baseline_name, "0", "-", "no seed in common", "-", "-", "-"]
    ours = [by_seed[s]["accuracy"] for s in seeds]
    theirs = [baseline[s]["accuracy"] for s in seeds]
    gains = [a - b for a, b in zip(ours, theirs)]
    loss_changes = [by_seed[s]["log_loss"] - baseline[s]["log_loss"] for s in seeds]
    p_value = "-"
    if len(seeds) >= 2:
        # SciPy only when this runs
        from scipy.stats import ttest_rel
        p_value = f"{ttest_rel(ours, theirs).pvalue:.2f}"
    return [name, baseline_name, str(len(seeds)), _mean_sd(gains, "{:+.3f}"),
            ", ".join(f"{s}: {g:+.3f}" for s, g in zip(seeds, gains)),
            f"{sum(g > 0 for g in gains)}/{len(seeds)}", p_value, _mean_sd(loss_changes, "{:+.3f}")]


def paired_table(groups: list[tuple[str, list[Path]]], baseline_name: str) -> str:
    """The ``--paired-with`` table: every group but the baseline against the baseline."""
    runs_of = dict(groups)
    if baseline_name not in runs_of:
        raise KeyError(f"--paired-with {baseline_name}: not among the runs given ({', '.join(runs_of)})")
    baseline = {run_seed(run): _metrics(run) for run in runs_of[baseline_name]}
    return markdown([paired_row(name, runs, baseline_name, baseline) for name, runs in groups
                     if name != baseline_name], PAIRED_HEADER)


@dataclasses.dataclass
class CvRun:
    """One run of a cross-validation: its config's name, direction and seed, its metrics."""

    path: Path
    name: str
    direction: str
    seed: int
    metrics: dict


def cv_run(path: Path) -> CvRun:
    """Read a finished run's config.yaml and metrics.json (errors name the file)."""
    run = RunDir(path)
    try:
        cfg = yaml.safe_load(run.config_file.read_text())
        name, data, seed = cfg["name"], cfg["data"], int(cfg["train"]["seed"])
        direction = f"fold {data['train_split']}→{data['valid_split']}"
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{run.config_file}: no readable name, data splits and train.seed ({err})") from err
    metrics = _metrics(path)
    if metrics.get("held_out") is False:
        raise ValueError(f"{run.metrics_file}: scored on clips it trained on (held_out false), no part of a "
                         "cross-validation")
    return CvRun(path, name, direction, seed, metrics)


def _agreement(run: CvRun, reference: Path | None) -> float | None:
    if "teacher_agreement" in run.metrics:
        return run.metrics["teacher_agreement"]
    if reference is None or not RunDir(run.path).predictions_file.is_file():
        return None
    try:
        return top1_agreement(RunDir(run.path).predictions_file, reference)
    except ValueError:  # the teachers were validated on other files
        return None


def cv_summary(paths: list[Path], paired_with: str = "") -> dict:
    """The ``--cv`` figures: ``rows`` (row name -> direction -> ``accuracy`` / ``log_loss``
    / ``agreement``, one value per seed in seed order, plus ``mean_accuracy`` /
    ``mean_log_loss`` over the directions where every direction has runs), ``directions``,
    ``runs`` (the folders read) and ``tables`` (the markdown ``--cv`` prints). Run folders
    not finished yet (a config.yaml, no finished metrics.json: a cross-validation under way)
    are left out, and the tables end with a line naming them."""
    unfinished = [p for p in paths if RunDir(p).config_file.is_file() and not RunDir(p).metrics().get("finished")]
    paths = [p for p in paths if p not in unfinished]
    if not paths:
        raise ValueError(f"no finished run among {len(unfinished)} folder(s) ({', '.join(map(str, unfinished))})")
    runs = [cv_run(p) for p in paths]
    figures: dict[str, dict] = {}
    directions = sorted({r.direction for r in runs})
    teachers: dict[str, Path] = {}  # direction -> a distilled run's teacher predictions
    ensembles: dict[str, list[dict]] = {}
    for run in runs:
        folder = RunDir(run.path)
        if folder.teacher_predictions_file.is_file() and folder.teachers_file.is_file():
            teachers.setdefault(run.direction, folder.teacher_predictions_file)
            ensemble = json.loads(folder.teachers_file.read_text())["ensemble"]
            if ensemble not in ensembles.setdefault(run.direction, []):
                ensembles[run.direction].append(ensemble)
    names = list(dict.fromkeys(r.name for r in runs))
    header = ["run"] + [f"{d}: {what}" for d in directions for what in ("accuracy", "log loss", "agreement")] + [
        "mean accuracy", "mean log loss"]
    rows = []
    if ensembles:
        cells = ["teacher ensemble (per direction)"]
        for d in directions:
            members = ensembles.get(d, [])
            cells += [_mean_sd([e["accuracy"] for e in members]), _mean_sd([e["log_loss"] for e in members]), "1"]
        cells += [_mean_sd([statistics.mean(e["accuracy"] for e in ensembles[d]) for d in directions if d in ensembles]),
                  _mean_sd([statistics.mean(e["log_loss"] for e in ensembles[d]) for d in directions if d in ensembles])]
        rows.append(cells)
        figures[cells[0]] = {d: {"accuracy": [e["accuracy"] for e in ensembles[d]],
                                 "log_loss": [e["log_loss"] for e in ensembles[d]]} for d in directions if d in ensembles}
    for name in names:
        cells, accuracy_means, loss_means = [], [], []
        seeds = {d: sorted(r.seed for r in runs if r.name == name and r.direction == d) for d in directions}
        figures[name] = {}
        for d in directions:
            group = sorted((r for r in runs if r.name == name and r.direction == d), key=lambda r: r.seed)
            accuracies = [r.metrics["accuracy"] for r in group]
            losses = [r.metrics["log_loss"] for r in group]
            agreements = [_agreement(r, teachers.get(d)) for r in group]
            cells += [_mean_sd(accuracies), _mean_sd(losses), _mean_sd(agreements)]
            if group:
                accuracy_means.append(statistics.mean(accuracies))
                loss_means.append(statistics.mean(losses))
                figures[name][d] = {"seeds": [r.seed for r in group], "accuracy": accuracies, "log_loss": losses,
                                    "agreement": agreements}
        counts = sorted({len(s) for s in seeds.values()})
        label = f"{name} ({'/'.join(map(str, counts))} seed{'s' * (counts != [1])})"
        complete = len(accuracy_means) == len(directions)
        cells += [_cell(statistics.mean(accuracy_means)) if complete else "-",
                  _cell(statistics.mean(loss_means)) if complete else "-"]
        rows.append([label] + cells)
        if complete:
            figures[name].update(mean_accuracy=statistics.mean(accuracy_means), mean_log_loss=statistics.mean(loss_means))
    out = markdown(rows, header)
    if paired_with:
        if paired_with not in names:
            raise KeyError(f"--paired-with {paired_with}: no run of that config among the runs given "
                           f"({', '.join(names)})")
        paired_rows = []
        for d in directions:
            base = {r.seed: r.metrics for r in runs if r.name == paired_with and r.direction == d}
            for name in names:
                if name != paired_with:
                    group = [r.path for r in runs if r.name == name and r.direction == d]
                    if group:
                        paired_rows.append([f"{d}: {name}"] + paired_row(name, group, paired_with, base)[1:])
        out += "\n\n" + markdown(paired_rows, PAIRED_HEADER)
    if unfinished:
        out += f"\n\nleft out, not finished: {', '.join(str(p) for p in unfinished)}"
    return {"rows": figures, "directions": directions, "runs": [str(p) for p in paths], "tables": out}


def quote_into(run: Path, summary: dict) -> None:
    """Write a cross-validation ``summary`` (:func:`cv_summary`) into the ``metrics.json``
    of ``run`` as ``cross_validation`` (atomically): the figures to quote for a model that
    has no held-out score of its own (trained on every clip)."""
    metrics = _metrics(run)
    metrics["cross_validation"] = {
        "note": "estimates for this recipe from cross-validation runs, not scores of this model: "
                "each run was trained on one fold and scored on the other",
        **summary}
    write_json(RunDir(run).metrics_file, metrics)
