"""Decoding audio files to mono float32 at a target rate, with clear errors.

soundfile (libsndfile) reads 8/16/24/32-bit PCM, float WAV and FLAC; soxr resamples
(HQ quality). Multi-channel audio is mixed down to mono by averaging the channels.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf
import soxr


INT16_SCALE = 32767.0
"""Full scale of the int16 cache: float samples in [-1, 1] are stored as round(x * INT16_SCALE)."""


class AudioReadError(ValueError):
    """An audio file is missing, empty, truncated or not audio. The message names it."""


def _declared_wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """For a RIFF/WAVE file: (declared size of the 'data' chunk, bytes present after its
    header). None for other formats or if the chunk list cannot be walked."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        file_size = path.stat().st_size
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                return size, file_size - fh.tell()
            fh.seek(size + (size & 1), 1)


def check_audio_file(path: str | Path) -> None:
    """Cheap checks before decoding: the file exists and is not empty.

    Raises:
      AudioReadError: naming the file and what is wrong.
    """
    path = Path(path)
    if not path.exists():
        raise AudioReadError(f"{path}: file not found")
    if not path.is_file():
        raise AudioReadError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise AudioReadError(f"{path}: file is empty (0 bytes)")


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as mono float32 in [-1, 1] at its own rate.

    Returns:
      (samples, sample_rate): samples has shape (n_samples,).

    Raises:
      AudioReadError: missing, empty, truncated, not audio, no samples, or samples that
        are NaN or infinite (float files).
    """
    path = Path(path)
    check_audio_file(path)
    try:
        info = sf.info(str(path))
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioReadError(f"{path}: not a readable audio file ({err})") from err
    declared = _declared_wav_data_bytes(path)
    if declared is not None and declared[1] < declared[0]:
        raise AudioReadError(
            f"{path}: truncated WAV: its header declares {declared[0]} bytes of audio "
            f"but only {declared[1]} are present"
        )
    if info.frames > 0 and data.shape[0] < info.frames:
        raise AudioReadError(
            f"{path}: truncated: header says {info.frames} frames, only {data.shape[0]} decoded"
        )
    if data.shape[0] == 0:
        raise AudioReadError(f"{path}: contains no audio samples")
    return np.ascontiguousarray(_finite_mono(path, data)), int(rate)


def read_audio_blocks(path: str | Path, block_seconds: float) -> Iterator[tuple[np.ndarray, int, bool]]:
    """A file read as :func:`read_audio` reads it, ``block_seconds`` at a time (memory flat in
    the file's length): yields (mono float32 samples of the block, the file's rate, whether
    it is the last block).

    Raises:
      AudioReadError: missing, empty, not audio, or a block with samples that are NaN or
        infinite.
    """
    path = Path(path)
    check_audio_file(path)
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioReadError(f"{path}: not a readable audio file ({err})") from err
    with handle:
        frames = max(1, int(block_seconds * handle.samplerate))
        while True:
            data = handle.read(frames, dtype="float32", always_2d=True)
            last = len(data) < frames
            yield _finite_mono(path, data, " of a block"), int(handle.samplerate), last
            if last:
                return


def _finite_mono(path: Path, data: np.ndarray, scope: str = "") -> np.ndarray:
    """Decoded (frames, channels) as mono (frames,), channels averaged.

    Raises:
      AudioReadError: samples that are NaN or infinite (how many of the ``data``, ``scope``
        saying what ``data`` is, e.g. " of a block").
    """
    finite = np.isfinite(data)
    if not finite.all():
        broken = int(data.size - np.count_nonzero(finite))
        raise AudioReadError(f"{path}: {broken} of {data.size} samples{scope} are NaN or infinite (a float file "
                             f"with broken values); it cannot be heard as audio")
    return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]


def fit_length(samples: np.ndarray, n_samples: int) -> np.ndarray:
    """Zero-pad at the end or crop the end so that the result has exactly n_samples."""
    if samples.shape[0] >= n_samples:
        return samples[:n_samples]
    return np.pad(samples, (0, n_samples - samples.shape[0]))


def resample(samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """Resample mono float32 audio from ``rate`` to ``sample_rate`` Hz (soxr HQ)."""
    if rate == sample_rate:
        return samples
    return soxr.resample(samples, rate, sample_rate, quality="HQ").astype(np.float32)


def load_clip(paths: str | Path | Sequence[str | Path], sample_rate: int, clip_samples: int) -> np.ndarray:
    """Decode one clip: one file, or several files concatenated in order (a 10 s TAU
    recording rebuilt from its 1 s segments), resampled to ``sample_rate`` Hz, mono,
    padded or cropped to ``clip_samples``.

    Returns:
      float32 array of shape (clip_samples,).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    parts = []
    for path in paths:
        samples, rate = read_audio(path)
        parts.append(resample(samples, rate, sample_rate))
    audio = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return fit_length(audio, clip_samples)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float32 in [-1, 1] -> int16 (clipped), the cache's storage format."""
    return np.clip(np.round(samples * INT16_SCALE), -32768, 32767).astype(np.int16)


def from_int16(samples: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1]."""
    return samples.astype(np.float32) / INT16_SCALE


QUIET_DBFS = -60.0
"""Files quieter than this RMS level (dB relative to full scale) get a warning."""


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of float samples in [-1, 1], in dB relative to full scale (-inf for digital silence)."""
    return mean_square_dbfs(float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0)


def mean_square_dbfs(mean_square: float) -> float:
    """The RMS level, in dBFS, of samples whose mean square is ``mean_square`` (for levels
    summed block by block); -inf for digital silence."""
    return 10.0 * float(np.log10(mean_square)) if mean_square > 0 else float("-inf")


def quiet_note(level_dbfs: float) -> str:
    """"" for a normal level, else why the file's prediction means little."""
    if level_dbfs == float("-inf"):
        return "digital silence (every sample is 0)"
    if level_dbfs < QUIET_DBFS:
        return f"near-silent (RMS {level_dbfs:.1f} dBFS, below {QUIET_DBFS:g})"
    return ""
