"""On-disk cache of each training clip's log-mel, so the training pipeline gathers
spectrograms instead of recomputing the same STFT every epoch.

The log-mel of a clip does not change between epochs: every augmentation kasc applies to
the report's recipe (time stretch, mixup, masks) works on the spectrogram. When no
waveform-level augmentation is on, the pipeline reads (batch, frames, mels) from this
cache and only the augmentations stay on the fly, seeded as before.

One file per (audio cache file, front end): ``<cache_dir>/<key>.npy``, float16
(frames x mels per clip; a 1 s clip at 256 mels is 14 KB, TAU22's 139,620 training clips
about 2 GB), read memory-mapped. float16 keeps 11 significant bits: the normalised
log-mel (values of a few units) is stored to within about 2e-3, far below what the
masks and mixup change. The key hashes the audio cache file's path, size and
modification time (a rebuilt audio cache gets a new key) and every front-end setting. The
file is written under a temporary name and renamed when complete (atomic): a killed run
leaves no half-written cache, only work to redo. Its space is checked first, and two
processes that need the same file do not both compute it: one holds ``<key>.lock``
(``kasc.files.locks``), the other waits and reads the result.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from kasc.cli import progress_bar
from kasc.data.audio import from_int16
from kasc.data.features import LogMel
from kasc.files.atomic import atomic_path
from kasc.files.locks import exclusive

LOGMEL_CACHE_VERSION = 1
DTYPE = np.float16
BATCH_CLIPS = 256


def logmel_cache_key(waveforms_file: Path, logmel: LogMel) -> str:
    """Hash of the audio cache file's identity (path, size, mtime) and the front end."""
    stat = os.stat(waveforms_file)
    text = (f"v{LOGMEL_CACHE_VERSION}|{Path(waveforms_file).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|"
            f"{logmel.sample_rate}|{sorted(logmel.cfg.computation().items())}")
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def cached_logmel(waveforms: np.ndarray, logmel: LogMel, cache_dir: str | Path, name: str = "clips",
                  progress: bool = True) -> np.ndarray:
    """The log-mel (n_clips, frames, mels) float16 of int16 ``waveforms`` (n_clips, samples).

    ``waveforms`` read from the audio cache (a ``np.memmap``) are cached on disk and the
    result is memory-mapped; an in-memory array is computed and returned in memory.
    """
    n_clips = len(waveforms)
    frames, mels, _ = logmel.output_shape(waveforms.shape[1])
    source = getattr(waveforms, "filename", None)
    if not source:
        return _compute(waveforms, logmel, np.empty((n_clips, frames, mels), DTYPE), name, progress)
    path = Path(cache_dir) / f"{logmel_cache_key(Path(source), logmel)}.npy"
    shape = (n_clips, frames, mels)
    array = _finished(path, shape)
    if array is not None:
        return array
    with exclusive(path.with_suffix(".lock"), f"the {name} log-mel cache entry {path}", wait=True):
        array = _finished(path, shape)  # computed by another process while this one waited
        if array is not None:
            return array
        nbytes = int(np.prod(shape)) * np.dtype(DTYPE).itemsize + 65536
        with atomic_path(path, expected_bytes=nbytes) as tmp:  # a memory map past a full disk is SIGBUS
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=DTYPE, shape=shape)
            _compute(waveforms, logmel, out, name, progress)
            out.flush()
            del out
    return np.load(path, mmap_mode="r")


def _finished(path: Path, shape: tuple[int, int, int]) -> np.ndarray | None:
    """The cached array at ``path`` if it is there with ``shape``, else None."""
    if path.is_file():
        try:
            array = np.load(path, mmap_mode="r")
            if array.shape == shape and array.dtype == DTYPE:
                return array
        except (ValueError, OSError):
            pass  # unreadable: rebuilt
    return None


def _compute(waveforms: np.ndarray, logmel: LogMel, out: np.ndarray, name: str, progress: bool) -> np.ndarray:
    bar = progress_bar(total=len(waveforms), desc=f"log-mel {name}", unit="clip", enabled=progress)
    for start in range(0, len(waveforms), BATCH_CLIPS):
        batch = from_int16(np.asarray(waveforms[start:start + BATCH_CLIPS]))
        out[start:start + len(batch)] = logmel(batch).numpy()[..., 0].astype(DTYPE)
        bar.update(len(batch))
    bar.close()
    return out
