"""A trained model as a predictor of audio files: the run's front end and classes, windows
of the run's clip length, probabilities per window and per file (``python -m kasc.predict``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf
import soxr
import tensorflow as tf

from kasc.cli import progress_bar
from kasc.config import load_config
from kasc.data.audio import (from_int16, mean_square_dbfs, read_audio, read_audio_blocks, resample, rms_dbfs,
                             to_int16)
from kasc.data.features import LogMel
from kasc.deployment.litert_runner import TFLiteModel
from kasc.files.checksums import require_exported_checksum
from kasc.files.runs import RunDir
from kasc.models import load_model

FILES_PER_BATCH = 64
"""Files decoded together and run through the model as one batch of windows."""
DECODE_WORKERS = 2
"""Decoding threads."""
WINDOW_BATCH = 256
"""Largest batch of windows given to the model at once."""
LONG_FILE_SECONDS = 120.0
"""Files longer than this are decoded and predicted block by block (memory flat in their length)."""
BLOCK_SECONDS = 30.0
"""Audio decoded at a time from a long file."""
class Predictor:
    """Loads a run's model and front end and predicts files.

    Args:
      model_path: run folder, ``.keras`` or ``.tflite`` file.
      config: config name or YAML path overriding the run's ``config.yaml``.
    """

    def __init__(self, model_path: Path, config: str | None = None, hop_seconds: float | None = None):
        self.progress = False  # True: progress bars on stderr for long recordings (the command sets it)
        run, self.model_file = RunDir.locate(model_path)
        if not self.model_file.is_file():
            raise FileNotFoundError(f"no model at {self.model_file}")
        config_ref = config or (str(run.config_if_any) if run.config_if_any else None)
        if config_ref is None:
            raise FileNotFoundError(f"{run.path} has no config.yaml (the front end); pass --config NAME")
        self.cfg = load_config(config_ref)
        self.class_names = run.metrics().get("class_names")
        if not self.class_names:
            raise FileNotFoundError(f"{run.metrics_file} lists no class_names; predict needs a finished run folder")
        self.logmel = LogMel(self.cfg.features, self.cfg.data.sample_rate)
        self.clip_samples = self.cfg.data.clip_samples
        self.hop_samples = self.clip_samples if hop_seconds is None else int(round(hop_seconds * self.cfg.data.sample_rate))
        if not 0 < self.hop_samples:
            raise ValueError(f"--hop must be more than 0 s, got {hop_seconds}")
        self.waveform_in = False
        if self.model_file.suffix == ".tflite":
            require_exported_checksum(self.model_file)  # damaged or replaced since its export: one line
            self._predict = TFLiteModel(self.model_file)
            shape = tuple(int(d) for d in self._predict.input["shape"])
            self.waveform_in = len(shape) == 2
            if self.waveform_in and shape[1] != self.clip_samples:
                raise ValueError(f"{self.model_file}: takes {shape[1]} samples, but its run's config.yaml has clips of "
                                 f"{self.clip_samples} samples (data.clip_seconds x data.sample_rate)")
            self._require_fit(shape, int(self._predict.output["shape"][-1]))
        else:
            model = load_model(self.model_file)
            self._require_fit(tuple(model.input_shape), int(model.output_shape[-1]))
            # one trace for every batch size (the window count varies from call to call)
            call = tf.function(lambda spectra: model(spectra, training=False), reduce_retracing=True)
            self._predict = lambda spectra: np.asarray(call(spectra))

    def _require_fit(self, input_shape: tuple, n_outputs: int) -> None:
        """The model must be the one its run describes: as many outputs as the run's class
        names, and (for a log-mel model) the mel bands and frame count of its front end.

        Raises:
          ValueError: one line naming the model file, what it has and what the run says.
        """
        if n_outputs != len(self.class_names):
            raise ValueError(f"{self.model_file}: predicts {n_outputs} classes, but its run names "
                             f"{len(self.class_names)} ({', '.join(self.class_names[:4])}...): not this run's model")
        if self.waveform_in:
            return
        frames, mels = self.logmel.output_shape(self.clip_samples)[:2]
        given_frames, given_mels = input_shape[1], input_shape[2] if len(input_shape) > 2 else None
        if given_mels != mels or (given_frames not in (None, -1) and given_frames != frames):
            raise ValueError(f"{self.model_file}: takes log-mel of shape {tuple(input_shape[1:])}, but its run's "
                             f"front end gives ({frames}, {mels}, 1) per clip: not this run's model")

    def windows(self, samples: np.ndarray) -> np.ndarray:
        """(n_windows, clip_samples) windows every ``hop_samples`` (consecutive by default);
        a last partial window is dropped unless the file is shorter than one window (then
        zero padded)."""
        if len(samples) < self.clip_samples:
            padded = np.zeros(self.clip_samples, np.float32)
            padded[:len(samples)] = samples
            return padded[None]
        n = 1 + (len(samples) - self.clip_samples) // self.hop_samples
        starts = np.arange(n) * self.hop_samples
        return np.stack([samples[start:start + self.clip_samples] for start in starts]).astype(np.float32)

    def decode_windows(self, path: Path) -> np.ndarray:
        """A file's windows (n_windows, clip_samples), decoded as the training cache is
        (mono, resampled, int16-rounded)."""
        return self.decode(path)[0]

    def decode(self, path: Path) -> tuple[np.ndarray, float]:
        """(the file's windows (n_windows, clip_samples), its RMS level in dBFS)."""
        samples, rate = read_audio(path)
        samples = from_int16(to_int16(resample(samples, rate, self.cfg.data.sample_rate)))
        return self.windows(samples), rms_dbfs(samples)

    def stream(self, path: Path) -> tuple[np.ndarray, float]:
        """(probabilities of the file's windows (n_windows, C), its RMS level in dBFS), decoded
        and predicted :data:`BLOCK_SECONDS` at a time: memory stays flat in the file's length.
        The samples are those of :meth:`decode` (soxr's streaming resampler, int16-rounded)
        up to the resampler's rounding at block joins."""
        rate_out = self.cfg.data.sample_rate
        out, carry, total_sq, count, stream = [], np.zeros(0, np.float32), 0.0, 0, None
        for mono, rate, last in read_audio_blocks(path, BLOCK_SECONDS):
            if stream is None and rate != rate_out:
                stream = soxr.ResampleStream(rate, rate_out, 1, dtype="float32", quality="HQ")
            samples = stream.resample_chunk(mono, last=last) if stream is not None else mono
            samples = from_int16(to_int16(samples))
            total_sq += float(np.square(samples, dtype=np.float64).sum())
            count += len(samples)
            carry = np.concatenate([carry, samples])
            n = 0 if len(carry) < self.clip_samples else 1 + (len(carry) - self.clip_samples) // self.hop_samples
            if n:
                out.append(self.probabilities(self.windows(carry[:(n - 1) * self.hop_samples + self.clip_samples])))
                carry = carry[n * self.hop_samples:]
        if not out:  # shorter than one window
            out.append(self.probabilities(self.windows(carry)))
        return np.concatenate(out), mean_square_dbfs(total_sq / count if count else 0.0)

    def is_long(self, path: Path) -> bool:
        """Longer than :data:`LONG_FILE_SECONDS` (from its header; False if unreadable)."""
        try:
            return sf.info(str(path)).duration > LONG_FILE_SECONDS
        except (RuntimeError, TypeError, OSError):
            return False

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (n, C) of windows (n, clip_samples), in batches of WINDOW_BATCH;
        with :attr:`progress`, a bar on stderr when there is more than one batch (a long
        recording)."""

        def model_input(batch):
            return batch.astype(np.float32) if self.waveform_in else self.logmel(batch).numpy()

        starts = range(0, len(windows), WINDOW_BATCH)
        starts = progress_bar(starts, desc=f"{len(windows)} windows", unit="batch", leave=False,
                              enabled=self.progress and len(starts) >= 2)
        out = [self._predict(model_input(windows[start:start + WINDOW_BATCH])) for start in starts]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def predict_file(self, path: Path) -> np.ndarray:
        """Mean probabilities (C,) over the file's windows."""
        return self.probabilities(self.decode_windows(path)).mean(axis=0)

    def predict_files(self, paths: Sequence[Path], files_per_batch: int = FILES_PER_BATCH,
                      workers: int = DECODE_WORKERS, per_window: bool = False
                      ) -> Iterator[tuple[Path, np.ndarray | Exception, float]]:
        """(path, mean probabilities (C,), RMS level in dBFS) for every file in order, or
        (path, the error, nan) for a file that cannot be read; with ``per_window`` the
        probabilities of each window (n_windows, C) instead of their mean.

        Files are decoded by ``workers`` threads (soundfile and soxr release the GIL),
        ``files_per_batch`` at a time, the next group decoding while the model runs on
        the windows of the current one, stacked into one batch; a file longer than
        :data:`LONG_FILE_SECONDS` is decoded and predicted block by block (:meth:`stream`).
        """

        def decode(path):
            try:
                return self.decode(path)
            except (OSError, ValueError) as err:  # AudioReadError names the file and the problem
                return err

        segment: list[Path] = []
        for path in [*paths, None]:  # consecutive short files share batches; a long one goes alone
            long = path is not None and self.is_long(path)
            if segment and (path is None or long):
                for done, (probs, level) in self._short_files(segment, files_per_batch, workers, decode):
                    if isinstance(probs, Exception):
                        yield done, probs, float("nan")
                    else:
                        yield done, probs if per_window else probs.mean(axis=0), level
                segment = []
            if path is None:
                break
            if not long:
                segment.append(path)
                continue
            try:
                probs, level = self.stream(path)
            except (OSError, ValueError, RuntimeError) as err:  # named; soundfile's errors are RuntimeErrors
                yield path, err, float("nan")
                continue
            yield path, probs if per_window else probs.mean(axis=0), level

    def _short_files(self, paths, files_per_batch, workers, decode):
        """(path, (window probabilities, level) or (error, nan)) of files decoded whole,
        ``files_per_batch`` at a time by ``workers`` threads."""
        groups = [list(paths[i:i + files_per_batch]) for i in range(0, len(paths), files_per_batch)]
        with ThreadPoolExecutor(max(1, workers)) as pool:
            pending = [pool.submit(decode, p) for p in groups[0]] if groups else []
            for index, group in enumerate(groups):
                decoded = [future.result() for future in pending]
                pending = [pool.submit(decode, p) for p in groups[index + 1]] if index + 1 < len(groups) else []
                good = [d[0] for d in decoded if not isinstance(d, Exception)]
                probs = self.probabilities(np.concatenate(good)) if good else None
                offset = 0
                for path, item in zip(group, decoded):
                    if isinstance(item, Exception):
                        yield path, (item, float("nan"))
                        continue
                    windows, level = item
                    yield path, (probs[offset:offset + len(windows)], level)
                    offset += len(windows)
