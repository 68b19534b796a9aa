"""Accuracy on unseen devices: ``python -m kasc.device_shift RUN_DIR... [--dirs FOLDER] [--output table.md]``.

TAU22 evaluates on devices s4-s6 that training never heard. Data without such devices
(UrbanSound8K here) can imitate them: each validation clip is convolved with one
microphone impulse response from the ``held_out_half`` of a folder
(``kasc.data.impulse_responses``; DIR augmentation only ever uses the other half), the
response drawn once per clip with a fixed seed, so every run is tested on the same
shifted copy. This is the nearest thing to unseen devices the data allows; it is not
TAU22's s4-s6.

For each run: accuracy and log loss of its ``model.keras`` on the clean validation split
and on the shifted copy, printed as a Markdown table, written to ``--output`` if given,
and stored in the run folder as ``device_shift.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from kasc.files.atomic import write_json, write_text
from kasc.files.runs import RunDir

DEFAULT_DIRS = "../shared/data/dirs"
SHIFT_SEED = 0
"""Seed of the per-clip choice of response: fixed, so every run meets the same devices."""


def shifted_split(data, cfg, dirs: Path, progress: bool = False):
    """``data`` (a validation SplitData) convolved clip by clip with held-out responses."""
    from kasc.data.impulse_responses import convolve_fixed, load_responses, response_files
    from kasc.config import resolve_path

    files = response_files(dirs, "held_out_half")
    responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs",
                               progress=progress)
    waveforms, choice = convolve_fixed(data.waveforms, responses, seed=SHIFT_SEED)
    return dataclasses.replace(data, waveforms=waveforms), [files[i].stem for i in choice]


def evaluate_shift(run: RunDir, dirs: Path, batch_size: int = 64) -> dict:
    """Clean and shifted accuracy / log loss of one finished run; written to ``device_shift.json``."""
    from kasc.evaluation.inference import finished_run, keras_probabilities
    from kasc.evaluation.metrics import classification_metrics, summary

    loaded = finished_run(run)
    cfg, model, logmel, valid = loaded.cfg, loaded.model, loaded.logmel, loaded.splits["valid"]
    shifted, devices = shifted_split(valid, cfg, dirs)
    result = {"dirs": str(dirs), "held_out_responses": sorted(set(devices)), "seed": SHIFT_SEED}
    for name, split in (("clean", valid), ("unseen_devices", shifted)):
        report = classification_metrics(split.labels, keras_probabilities(model, split, logmel, batch_size,
                                                                          progress=name),
                                        split.class_names)
        result[name] = summary(report)
    write_json(run.device_shift_file, result)
    return result


def markdown_table(results: dict[str, dict]) -> str:
    """One row per run: clean and unseen-device accuracy and log loss."""
    lines = ["| run | clean accuracy | unseen-device accuracy | clean log loss | unseen-device log loss |",
             "| --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['clean']['accuracy']:.3f} | {r['unseen_devices']['accuracy']:.3f} | "
                     f"{r['clean']['log_loss']:.3f} | {r['unseen_devices']['log_loss']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from kasc.cli import describe

    parser = argparse.ArgumentParser(prog="python -m kasc.device_shift", description=describe(__doc__))
    parser.add_argument("runs", type=Path, nargs="+", help="finished run folders")
    parser.add_argument("--dirs", type=Path, default=Path(DEFAULT_DIRS), help="impulse-response folder")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)

    from kasc.config import ConfigError, resolve_path

    dirs = resolve_path(str(args.dirs))
    results = {}
    try:
        for path in args.runs:
            run = RunDir(path)
            if not run.is_finished():
                raise FileNotFoundError(f"{path} is not a finished run folder (model.keras and a finished metrics.json)")
            results[path.name] = evaluate_shift(run, dirs)
            print(f"{path.name}: clean {results[path.name]['clean']['accuracy']:.3f}, unseen devices "
                  f"{results[path.name]['unseen_devices']['accuracy']:.3f}", file=sys.stderr, flush=True)
    except (ConfigError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = markdown_table(results)
    print(table)
    if args.output:
        write_text(args.output, table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
