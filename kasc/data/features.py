"""The log-mel front end (report section 2.1), computed with tf.signal on batches.

16 kHz audio, a 2048-sample Hann window, hop 512, no centering (a 1 s clip gives
1 + (16000 - 2048) // 512 = 28 frames), power spectrum, 256 triangular mel filters,
natural log, then a fixed affine normalisation (config constants). The front end stays outside the models so that the complexity audit
measures the network alone.

The mel scale of the report's equation (1), mel(f) = 1000 / ln 2 * ln(1 + f / 1000), is
the default; the HTK scale, mel(f) = 2595 * log10(1 + f / 700), is an option.

The same class computes EfficientAT's front end (``configs/base/frontend_efficientat.yaml``,
the AudioSet-pretrained teacher's): 32 kHz, pre-emphasis 0.97, a 1024-point FFT of an
800-sample symmetric Hann window, hop 320, centred frames with reflection padding, 128
Kaldi mel banks (0 to 15 kHz), log(mel + 1e-5), then (x + 4.5) / 5.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from kasc.config import MEL_SCALES, FeatureConfig
from kasc.config.schema import num_frames



def hz_to_mel(hz: np.ndarray | float, scale: str = "report") -> np.ndarray:
    """Frequency in Hz -> mel on the chosen scale (``kaldi`` is HTK's in natural log)."""
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "report":
        return 1000.0 / math.log(2.0) * np.log1p(hz / 1000.0)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    if scale == "kaldi":
        return 1127.0 * np.log1p(hz / 700.0)
    raise ValueError(f"features.mel_scale: unknown scale '{scale}' (expected one of {MEL_SCALES})")


def mel_to_hz(mel: np.ndarray | float, scale: str = "report") -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    if scale == "report":
        return 1000.0 * np.expm1(mel * math.log(2.0) / 1000.0)
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    if scale == "kaldi":
        return 700.0 * np.expm1(mel / 1127.0)
    raise ValueError(f"features.mel_scale: unknown scale '{scale}' (expected one of {MEL_SCALES})")


def mel_band_edges_hz(n_mels: int, fmin_hz: float, fmax_hz: float, scale: str = "report") -> np.ndarray:
    """The n_mels + 2 band edges in Hz, equally spaced on the mel scale; filter k has
    its lower edge, centre and upper edge at entries k, k + 1, k + 2."""
    mels = np.linspace(hz_to_mel(fmin_hz, scale), hz_to_mel(fmax_hz, scale), n_mels + 2)
    return mel_to_hz(mels, scale)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin_hz: float = 0.0,
                   fmax_hz: float = 0.0, scale: str = "report") -> np.ndarray:
    """Triangular mel filter bank (peak 1 at each centre), shape (n_fft // 2 + 1, n_mels).

    Each filter rises linearly from its lower edge to its centre and falls to its upper
    edge, evaluated at the FFT bin frequencies k * sample_rate / n_fft: linearly in Hz for
    the ``report`` and ``htk`` scales; linearly in mel for ``kaldi``, whose Nyquist bin
    (k = n_fft / 2) gets no weight (torchaudio's ``kaldi.get_mel_banks`` plus the zero
    column EfficientAT appends).
    """
    fmax_hz = fmax_hz or sample_rate / 2.0
    if not 0.0 <= fmin_hz < fmax_hz <= sample_rate / 2.0:
        raise ValueError(f"features: need 0 <= fmin_hz < fmax_hz <= {sample_rate / 2}, got {fmin_hz}, {fmax_hz}")
    bins_hz = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    if scale == "kaldi":
        edges = np.linspace(hz_to_mel(fmin_hz, scale), hz_to_mel(fmax_hz, scale), n_mels + 2)
        points = hz_to_mel(bins_hz, scale)
    else:
        edges, points = mel_band_edges_hz(n_mels, fmin_hz, fmax_hz, scale), bins_hz
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (points[None, :] - lower) / (centre - lower)
    falling = (upper - points[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if scale == "kaldi":
        weights[:, n_fft // 2] = 0.0
    return weights.T.astype(np.float32)


def frames_for(cfg: FeatureConfig, n_samples: int) -> int:
    """Frames of the front end ``cfg`` for clips of ``n_samples`` samples."""
    return num_frames(n_samples, cfg.n_fft, cfg.hop_samples, cfg.center, cfg.preemphasis > 0)


def stft_window(cfg: FeatureConfig) -> np.ndarray:
    """The analysis window (n_fft,): Hann of ``win_samples`` (periodic or symmetric),
    zero-padded equally on both sides to ``n_fft`` as ``torch.stft`` does."""
    length = cfg.win_samples or cfg.n_fft
    n = np.arange(length)
    period = length if cfg.window == "hann" else length - 1
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / max(period, 1))
    left = (cfg.n_fft - length) // 2
    return np.pad(window, (left, cfg.n_fft - length - left)).astype(np.float32)


def sparse_filterbank(filterbank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A (bins, mels) filter bank as M weighted scatters: indices (M, bins) int32 and
    weights (M, bins) float32 with ``sum_m scatter(weights[m] * x, indices[m]) == x @ filterbank``
    for x over bins, M the most filters any bin feeds (2 for triangular banks).
    A bin that feeds fewer filters scatters zero weight onto filter 0."""
    nonzero = filterbank != 0
    rows = max(1, int(nonzero.sum(axis=1).max()))
    indices = np.zeros((rows, filterbank.shape[0]), np.int32)
    weights = np.zeros((rows, filterbank.shape[0]), np.float32)
    for b in range(filterbank.shape[0]):
        for m, k in enumerate(np.flatnonzero(nonzero[b])):
            indices[m, b], weights[m, b] = k, filterbank[b, k]
    return indices, weights


class LogMel:
    """Waveforms (batch, n_samples) float32 -> log-mel (batch, frames, n_mels, 1), frames
    as :func:`frames_for`: kasc's one front end, for tf.data, training, prediction and
    (``for_tflite``) the waveform-in TFLite model.

    Args:
      cfg: feature settings.
      sample_rate: audio rate in Hz.
      for_tflite: one clip at a time (batch 1), the filter bank applied as weighted
        scatters with TFLite's builtin ops (``kasc.deployment.waveform_model``).
    """

    def __init__(self, cfg: FeatureConfig, sample_rate: int, for_tflite: bool = False):
        self.cfg = cfg
        self.sample_rate = sample_rate
        self.for_tflite = for_tflite
        if cfg.normalize_std <= 0:
            raise ValueError(f"features.normalize_std must be > 0, got {cfg.normalize_std}")
        bank = mel_filterbank(sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin_hz, cfg.fmax_hz, cfg.mel_scale)
        self.filterbank = tf.constant(bank)
        self.window = tf.constant(stft_window(cfg))
        if for_tflite:  # TFLite's builtin ops: weighted scatters instead of a dense (bins, mels) product
            self._indices, self._weights = sparse_filterbank(bank)

    def __call__(self, waveforms: tf.Tensor) -> tf.Tensor:
        waveforms = tf.convert_to_tensor(waveforms, tf.float32)
        if self.cfg.preemphasis:
            waveforms = waveforms[..., 1:] - self.cfg.preemphasis * waveforms[..., :-1]
        if self.cfg.center:
            pad = self.cfg.n_fft // 2
            waveforms = tf.pad(waveforms, [[0, 0]] * (len(waveforms.shape) - 1) + [[pad, pad]], mode="REFLECT")
        spectrum = tf.signal.stft(
            waveforms, frame_length=self.cfg.n_fft, frame_step=self.cfg.hop_samples,
            fft_length=self.cfg.n_fft, window_fn=lambda length, dtype: self.window, pad_end=False)
        power = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))
        mel = self._sparse_mel(power) if self.for_tflite else tf.tensordot(power, self.filterbank, axes=1)
        logmel = (tf.math.log(mel + self.cfg.log_offset) - self.cfg.normalize_mean) / self.cfg.normalize_std
        return logmel[..., tf.newaxis]

    def _sparse_mel(self, power: tf.Tensor) -> tf.Tensor:
        """The mel projection of one clip's power (1, frames, bins) -> (1, frames, n_mels) as
        weighted segment sums over bins (:func:`sparse_filterbank`), which TFLite runs with
        builtin ops; equal to the dense product to float rounding."""
        bins_by_frames = tf.transpose(power[0])  # (bins, frames): the segment sums run over the first axis
        mel = tf.add_n([tf.math.unsorted_segment_sum(bins_by_frames * self._weights[m][:, None], self._indices[m],
                                                     self.cfg.n_mels)
                        for m in range(len(self._indices))])  # (n_mels, frames)
        return tf.transpose(mel)[tf.newaxis]

    def output_shape(self, n_samples: int) -> tuple[int, int, int]:
        """(frames, n_mels, 1) for clips of n_samples samples."""
        return frames_for(self.cfg, n_samples), self.cfg.n_mels, 1
