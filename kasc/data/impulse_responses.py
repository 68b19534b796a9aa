"""Device impulse responses (DIRs): how a microphone colours what it records.

A folder of impulse-response WAV files (``../shared/data/dirs``: 66 measured MicIRP
microphone responses, 16-22k samples at 44.1 or 48 kHz) serves two purposes:

- DIR augmentation (``augment.dir_prob``, ``kasc.data.augment.convolve_responses``): training
  waveforms convolved with a random response, as the CP-JKU DCASE 2023 system did, so
  that the model meets more "devices" than the dataset has;
- unseen devices (``python -m kasc.device_shift``): a validation split convolved with
  responses the training never used, one fixed response per clip.

For the second, the responses are split into two fixed halves by sorted file name:
even positions are the ``training_half`` (for augmentation), odd positions the
``held_out_half`` (for evaluation). Responses are decoded, resampled and cached like
audio (``kasc.data.cache.AudioCache``), zero padded to the longest one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

from kasc.config import DIR_SUBSETS  # the allowed values live with the config schema
from kasc.data.audio import from_int16, to_int16
from kasc.data.cache import AudioCache
from kasc.data.table import DatasetError



def response_files(folder: str | Path, subset: str = "all") -> list[Path]:
    """The ``.wav`` files of ``folder`` (sorted by name) in ``subset``.

    Raises:
      DatasetError: the folder is missing or holds no ``.wav`` file, or ``subset`` is unknown.
    """
    folder = Path(folder)
    if subset not in DIR_SUBSETS:
        raise DatasetError(f"impulse-response subset must be one of {', '.join(DIR_SUBSETS)}, got {subset!r}")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: impulse-response folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    if not files:
        raise DatasetError(f"{folder}: no .wav impulse responses in it")
    if subset == "training_half":
        return files[0::2]
    if subset == "held_out_half":
        return files[1::2]
    return files


def load_responses(files: list[Path], sample_rate: int, cache_dir: str | Path, progress: bool = False) -> np.ndarray:
    """Responses as float32 (n_responses, response_samples) at ``sample_rate``, zero padded
    to the longest; decoded once into the audio cache.

    Raises:
      AudioReadError: a file cannot be read (named).
    """
    longest_seconds = max(sf.info(str(path)).duration for path in files)
    samples = int(np.ceil(longest_seconds * sample_rate))
    cache = AudioCache(cache_dir, sample_rate, samples, progress=progress)
    return from_int16(np.asarray(cache.load([(str(path),) for path in files], name="impulse responses")))


def convolve_fixed(waveforms: np.ndarray, responses: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each clip convolved with one response, drawn once per clip with ``seed``: the
    "recorded by another device" copy of a split.

    Args:
      waveforms: int16 (n_clips, clip_samples).
      responses: float32 (n_responses, response_samples).

    Returns:
      (int16 waveforms (n_clips, clip_samples): the convolution's first clip_samples
      samples, clipped to full scale; the response index of each clip (n_clips,)).
    """
    choice = np.random.default_rng(seed).integers(0, len(responses), size=len(waveforms))
    out = np.empty_like(np.asarray(waveforms))
    n = waveforms.shape[1]
    for start in range(0, len(waveforms), 64):
        clips = from_int16(np.asarray(waveforms[start:start + 64]))
        convolved = fftconvolve(clips, responses[choice[start:start + 64]], axes=1)[:, :n]
        out[start:start + 64] = to_int16(convolved)
    return out, choice
