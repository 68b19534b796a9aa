"""A validation split heard through unseen devices: every clip convolved with a measured
microphone impulse response of the held-out half (``python -m kasc.device_shift``), the
run scored on it beside the clean split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kasc.config import resolve_path
from kasc.data.impulse_responses import convolve_fixed, load_responses, response_files
from kasc.evaluation.inference import finished_run, keras_probabilities
from kasc.evaluation.metrics import classification_metrics, summary
from kasc.files.atomic import write_json
from kasc.files.runs import RunDir



SHIFT_SEED = 0
"""Seed of the per-clip choice of response: fixed, so every run meets the same devices."""


def shifted_split(data, cfg, dirs: Path, progress: bool = False):
    """``data`` (a validation SplitData) convolved clip by clip with held-out responses."""
    files = response_files(dirs, "held_out_half")
    responses = load_responses(files, cfg.data.sample_rate, resolve_path(cfg.data.cache_dir).parent / "dirs",
                               progress=progress)
    waveforms, choice = convolve_fixed(data.waveforms, responses, seed=SHIFT_SEED)
    return dataclasses.replace(data, waveforms=waveforms), [files[i].stem for i in choice]


def evaluate_shift(run: RunDir, dirs: Path, batch_size: int = 64) -> dict:
    """Clean and shifted accuracy / log loss of one finished run; written to ``device_shift.json``."""
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
