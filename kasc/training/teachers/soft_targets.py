"""Cached teacher outputs: each teacher's logits computed once per training clip.

Running three teachers on every augmented batch costs far more than training the student
(a MobileNetV2 at 256 mel bands is about 40x the student's MACs), so by default kasc
runs each teacher once over the training clips, stores its logits, and carries the
ensemble's soft targets softmax(z / T) through the pipeline, where mixup mixes them with
the same lambda as the inputs and labels (mixed soft targets are then the same mixture
as the mixed labels).

Logits, not probabilities, are stored, so T and the ensemble weights can change without
recomputing. A cache file is named by a key over the teacher's weights file (its bytes),
the clip list, the front end and the teacher input mode: retraining a teacher or
changing the data makes a new key, so stale targets are never used. Files are written to
a temporary name and renamed (atomic); two runs needing the same file compute it once
(one holds ``<file>.lock``, the other waits and reads it).

``teacher_input="recording"`` gives the teacher the whole 10 s TAU22 recording each 1 s
clip was cut from (as the report's teachers were trained); every clip of a recording then
gets that recording's targets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import keras
import numpy as np

from kasc.cli import progress_bar
from kasc.config import DataConfig, ExperimentConfig, FeatureConfig, load_config, resolve_path
from kasc.data.cache import AudioCache
from kasc.data.datasets import load_split
from kasc.data.features import LogMel
from kasc.data.pipeline import SplitData, at_sample_rate, logmel_batches
from kasc.data.table import DatasetError
from kasc.data.tau import rebuild_recordings
from kasc.files.atomic import atomic_path
from kasc.files.checksums import file_checksum
from kasc.files.locks import exclusive
from kasc.files.runs import RunDir
from kasc.models import load_model
from kasc.models.blocks import logits_model


def predict_logits(model: keras.Model, waveforms: np.ndarray, logmel: LogMel, batch_size: int = 32,
                   progress: str = "") -> np.ndarray:
    """Logits (n, C) of ``model`` on int16 waveforms (n, samples), batch by batch; with a
    tqdm bar of that name on stderr if ``progress`` is given."""
    logits = logits_model(model)
    batches = progress_bar(logmel_batches(waveforms, logmel, batch_size), total=-(-len(waveforms) // batch_size),
                           desc=progress, unit="batch", enabled=bool(progress), leave=False)
    out = [np.asarray(logits(spectra, training=False)) for spectra in batches]
    return np.concatenate(out, axis=0).astype(np.float32)


def _recording_waveforms(cfg: ExperimentConfig, data: SplitData, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """10 s waveforms of the recordings the training clips come from, and each clip's row."""
    if cfg.data.format != "tau22":
        raise DatasetError(f"distill.teacher_input 'recording' needs TAU22 1 s segments; data.format is '{cfg.data.format}'")
    full = load_split(dataclasses.replace(cfg.data, max_clips_per_split=0, rebuild_10s=False), "train")
    wanted = set(data.table["recording"])
    full = full[full["recording"].isin(wanted)]

    recordings = rebuild_recordings(full)
    row = {name: i for i, name in enumerate(recordings["recording"])}
    missing = sorted(wanted - set(row))
    if missing:
        raise DatasetError(f"clips of recording(s) {missing[:3]} have no segments in the training split")
    clip_samples = int(round(10.0 * cfg.data.sample_rate))
    cache = AudioCache(resolve_path(cfg.data.cache_dir), cfg.data.sample_rate, clip_samples, progress=progress)
    waveforms = cache.load(recordings["paths"].tolist(), name=f"{cfg.name}/train-recordings")
    return waveforms, np.array([row[r] for r in data.table["recording"]], dtype=np.int64)


def teacher_front_end(teacher_path: Path, features: FeatureConfig, sample_rate: int) -> tuple[FeatureConfig, int]:
    """The front end (features, sample rate in Hz) the teacher saved at ``teacher_path`` was
    trained with, read from its run folder's ``config.yaml``; ``features`` and
    ``sample_rate`` (the student's) where the teacher is a bare ``.keras`` file."""
    run = RunDir(teacher_path.parent)
    if teacher_path != run.model_file or run.config_if_any is None:
        return features, sample_rate
    teacher_cfg = load_config(run.config_file)
    return teacher_cfg.features, teacher_cfg.data.sample_rate


def cached_teacher_logits(cfg: ExperimentConfig, data: SplitData, teacher_path: Path,
                          progress: bool = True, rows: np.ndarray | None = None) -> np.ndarray:
    """Logits (n_clips, C) of the teacher saved at ``teacher_path`` on ``data``'s clips
    (only those at the indices ``rows``, in that order, if given: cross-fitting), read
    from the cache or computed and stored there.

    The teacher hears each clip through its own front end (``teacher_front_end``): a
    teacher at another sample rate (the 32 kHz AudioSet-pretrained MobileNetV3) gets the
    clips decoded at its rate, from the audio cache entry of the whole split.

    Raises:
      DatasetError: the teacher's class count differs from the data's.
    """
    mode = cfg.distill.teacher_input  # a known mode: checked when the config was loaded (kasc.config.validate)
    features, sample_rate = teacher_front_end(teacher_path, cfg.features, cfg.data.sample_rate)
    key_source = key_source_of(cfg.data, data, teacher_path, features, sample_rate, rows, teacher_input=mode)
    return cached_entry(cfg.data, teacher_path, key_source,
                   lambda path: _teacher_logits(cfg, data, teacher_path, features, sample_rate, progress, rows))


def key_source_of(data_cfg: DataConfig, data: SplitData, teacher_path: Path, features: FeatureConfig,
                  sample_rate: int, rows: np.ndarray | None = None, **more) -> dict:
    """What a cache entry's logits depend on: the teacher's weights file, the clips (those at
    ``rows``), the teacher's front end and rate, the clip length, and ``more``."""
    paths = data.table["paths"] if rows is None else data.table["paths"].iloc[rows]
    return {"teacher": file_checksum(teacher_path), "clips": [list(p) for p in paths],
            "features": features.computation(), "sample_rate": sample_rate,
            "clip_seconds": data_cfg.clip_seconds, **more}


def cache_entry_path(data_cfg: DataConfig, teacher_path: Path, key_source: dict) -> Path:
    """The soft-target cache file for ``key_source`` (``<data.cache_dir>/../soft_targets/<teacher run>-<key>.npy``)."""
    key = hashlib.sha256(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:20]
    return resolve_path(data_cfg.cache_dir).parent / "soft_targets" / f"{teacher_path.parent.name}-{key}.npy"


def cached_entry(data_cfg: DataConfig, teacher_path: Path, key_source: dict, compute) -> np.ndarray:
    """The cache entry of ``key_source``, or ``compute(path)`` stored there (atomically;
    one process computes, others wait for it and read)."""
    path = cache_entry_path(data_cfg, teacher_path, key_source)
    return cached_entries([path], lambda: [compute(path)])[0]


def cached_entries(entries: list[Path], compute) -> list[np.ndarray]:
    """The arrays of the cache files ``entries``, or ``compute()`` (one array per entry)
    stored where they are missing (atomically, under all their locks, taken in sorted
    order; one process computes, others wait for it and read)."""
    stored = [read_entry(entry) for entry in entries]
    if all(array is not None for array in stored):
        return stored
    with contextlib.ExitStack() as stack:
        for entry in sorted(entries):
            stack.enter_context(exclusive(entry.with_suffix(".lock"), f"the soft-target cache entry {entry}", wait=True))
        stored = [read_entry(entry) for entry in entries]
        if all(array is not None for array in stored):  # computed by another run while this one waited
            return stored
        arrays = compute()
        for entry, array, before in zip(entries, arrays, stored):
            if before is None:
                with atomic_path(entry, expected_bytes=array.nbytes + 4096) as tmp:
                    np.save(tmp, array)
    return list(arrays)


def read_entry(path: Path) -> np.ndarray | None:
    """A cache entry's logits; None if it is absent, or damaged (removed, with a note: it is computed again)."""
    if not path.is_file():
        return None
    try:
        return np.load(path)
    except (ValueError, OSError, EOFError) as err:
        print(f"kasc: the soft-target cache entry {path} is damaged ({err}); computing it again", file=sys.stderr)
        path.unlink(missing_ok=True)
        return None


def _teacher_logits(cfg: ExperimentConfig, data: SplitData, teacher_path: Path, features: FeatureConfig,
                    sample_rate: int, progress: bool, rows: np.ndarray | None = None) -> np.ndarray:
    """Run the teacher over ``data``'s clips (those at ``rows`` if given; or their
    recordings) through its own front end."""
    mode = cfg.distill.teacher_input
    teacher = load_model(teacher_path)
    n_classes = teacher.output_shape[-1]
    if n_classes != len(data.class_names):
        raise DatasetError(f"teacher {teacher_path} predicts {n_classes} classes; the data has "
                           f"{len(data.class_names)} ({', '.join(data.class_names)})")
    teacher_logmel = LogMel(features, sample_rate)
    if mode == "recording":
        recording_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, sample_rate=sample_rate))
        waveforms, row = _recording_waveforms(recording_cfg, data if rows is None else data.subset(rows), progress)
        return predict_logits(teacher, waveforms, teacher_logmel,
                              progress=f"logits {teacher_path.parent.name}" * progress)[row]
    own = at_sample_rate(cfg.data, data, sample_rate, progress, label=cfg.name).waveforms
    return predict_logits(teacher, own if rows is None else own[rows], teacher_logmel,
                          progress=f"logits {teacher_path.parent.name}" * progress)
