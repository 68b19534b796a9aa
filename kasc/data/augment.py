"""Training augmentations on batches of log-mel spectrograms, with stateless seeds.

Every function takes ``seed``, a shape-(2,) int tensor; the pipeline derives it from the
run's augmentation seed and the global batch number, so the same run produces the same
augmented batches, also after a resume, whatever the tf.data parallelism.

Spectrogram batches have shape (batch, frames, mels, 1); targets have shape
(batch, n) (one-hot labels, teacher logits). One augmentation works on waveforms
(batch, samples), before the log-mel: device impulse responses (:func:`convolve_responses`).
"""

from __future__ import annotations

import math

import tensorflow as tf

from kasc.config import AugmentConfig


def fold_seed(seed: tf.Tensor, salt: int) -> tf.Tensor:
    """A new stateless seed derived from ``seed`` and an integer ``salt``."""
    return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), salt)


def sample_beta(shape, alpha: float, seed: tf.Tensor) -> tf.Tensor:
    """Beta(alpha, alpha) samples as G1 / (G1 + G2) with G ~ Gamma(alpha)."""
    g1 = tf.random.stateless_gamma(shape, seed=fold_seed(seed, 1), alpha=alpha)
    g2 = tf.random.stateless_gamma(shape, seed=fold_seed(seed, 2), alpha=alpha)
    total = g1 + g2
    return tf.where(total > 0.0, g1 / tf.maximum(total, 1e-30), 0.5)


def mix(batch: tf.Tensor, lam: tf.Tensor, perm: tf.Tensor) -> tf.Tensor:
    """lam * batch + (1 - lam) * batch[perm], lam of shape (batch,) broadcast."""
    lam = tf.reshape(tf.cast(lam, batch.dtype), [-1] + [1] * (batch.shape.rank - 1))
    return lam * batch + (1.0 - lam) * tf.gather(batch, perm)


def mixup(spectra: tf.Tensor, targets: dict[str, tf.Tensor], seed: tf.Tensor,
          prob: float, alpha: float) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Mixup (Zhang et al.; report equations 4-5, with the second label y_j).

    Each clip i is mixed with clip perm[i] of the same batch with its own
    lambda ~ Beta(alpha, alpha), with probability ``prob`` (else lambda = 1). Inputs and
    every target (one-hot labels, teacher logits) are mixed with the same lambda.
    """
    size = tf.shape(spectra)[0]
    perm = tf.argsort(tf.random.stateless_uniform([size], seed=fold_seed(seed, 0)))
    lam = sample_beta([size], alpha, seed)
    applied = tf.random.stateless_uniform([size], seed=fold_seed(seed, 3)) < prob
    lam = tf.where(applied, lam, 1.0)
    return mix(spectra, lam, perm), {k: mix(v, lam, perm) for k, v in targets.items()}


def band_mask(size: tf.Tensor, length: int | tf.Tensor, n_masks: int, max_width: int,
              seed: tf.Tensor) -> tf.Tensor:
    """Boolean (size, length): True inside any of n_masks bands per row, each of width
    uniform in [0, max_width] (clipped to length) at a uniform position."""
    width_cap = tf.minimum(max_width, length)
    widths = tf.random.stateless_uniform([size, n_masks], seed=fold_seed(seed, 0),
                                         minval=0, maxval=width_cap + 1, dtype=tf.int32)
    u = tf.random.stateless_uniform([size, n_masks], seed=fold_seed(seed, 1))
    starts = tf.cast(tf.floor(u * tf.cast(length - widths + 1, tf.float32)), tf.int32)
    positions = tf.range(length)[None, None, :]
    inside = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])
    return tf.reduce_any(inside, axis=1)


def time_frequency_mask(spectra: tf.Tensor, seed: tf.Tensor, freq_masks: int, freq_mask_max_bins: int,
                        time_masks: int, time_mask_max_frames: int) -> tf.Tensor:
    """SpecAugment-style masking; masked cells take the clip's mean log-mel value."""
    size, frames, mels = tf.shape(spectra)[0], tf.shape(spectra)[1], tf.shape(spectra)[2]
    masked = tf.zeros([size, frames, mels], tf.bool)
    if freq_masks > 0 and freq_mask_max_bins > 0:
        freq = band_mask(size, mels, freq_masks, freq_mask_max_bins, fold_seed(seed, 10))
        masked = masked | freq[:, None, :]
    if time_masks > 0 and time_mask_max_frames > 0:
        time = band_mask(size, frames, time_masks, time_mask_max_frames, fold_seed(seed, 11))
        masked = masked | time[:, :, None]
    fill = tf.reduce_mean(spectra, axis=[1, 2, 3], keepdims=True)
    return tf.where(masked[..., None], fill, spectra)


def stretch_frames(spectra: tf.Tensor, rate: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
    """Resample each clip along time: output frame j reads input position
    offset + j * rate (linear interpolation, wrapping around the clip's end).

    rate > 1 speeds the clip up (its content is repeated cyclically to keep the length),
    rate < 1 slows it down (a window starting at ``offset`` is kept). Frequencies are
    untouched, as in a phase-vocoder time stretch. Shapes: spectra (B, T, F, 1),
    rate and offset (B,).
    """
    frames = tf.shape(spectra)[1]
    steps = tf.cast(tf.range(frames), tf.float32)[None, :]
    positions = tf.math.floormod(offset[:, None] + rate[:, None] * steps, tf.cast(frames, tf.float32))
    lower = tf.cast(tf.floor(positions), tf.int32)
    upper = tf.math.floormod(lower + 1, frames)
    weight = tf.reshape(positions - tf.cast(lower, tf.float32), tf.concat([tf.shape(positions), [1, 1]], 0))
    return ((1.0 - weight) * tf.gather(spectra, lower, batch_dims=1)
            + weight * tf.gather(spectra, upper, batch_dims=1))


def time_stretch(spectra: tf.Tensor, seed: tf.Tensor, prob: float, min_rate: float, max_rate: float) -> tf.Tensor:
    """Time stretching (submissions 3 and 4) keeping the clip length.

    With probability ``prob`` a clip gets a rate log-uniform in [min_rate, max_rate]
    (else rate 1, unchanged); slowed clips keep a random window of the stretched clip.
    """
    size, frames = tf.shape(spectra)[0], tf.shape(spectra)[1]
    u = tf.random.stateless_uniform([size], seed=fold_seed(seed, 0))
    rate = tf.exp(math.log(min_rate) + u * (math.log(max_rate) - math.log(min_rate)))
    applied = tf.random.stateless_uniform([size], seed=fold_seed(seed, 1)) < prob
    rate = tf.where(applied, rate, 1.0)
    slack = tf.maximum(0.0, tf.cast(frames - 1, tf.float32) * (1.0 - rate))
    offset = tf.random.stateless_uniform([size], seed=fold_seed(seed, 2)) * slack
    return stretch_frames(spectra, rate, offset)


def mix_frequency_statistics(spectra: tf.Tensor, lam: tf.Tensor, perm: tf.Tensor, eps: float = 1e-6) -> tf.Tensor:
    """Each clip's log-mel re-styled with mixed frequency statistics: per clip and mel band,
    mean mu and standard deviation sigma over time (unbiased variance, + eps, as PyTorch's
    ``var``); output (x - mu) / sigma * sigma_mix + mu_mix with
    mu_mix = lam mu + (1 - lam) mu[perm] (sigma likewise). Shapes: spectra (B, T, F, 1),
    lam (B,), perm (B,)."""
    frames = tf.cast(tf.shape(spectra)[1] * tf.shape(spectra)[3], spectra.dtype)
    mean = tf.reduce_mean(spectra, axis=[1, 3], keepdims=True)
    variance = tf.reduce_sum(tf.square(spectra - mean), axis=[1, 3], keepdims=True) / tf.maximum(frames - 1.0, 1.0)
    sigma = tf.sqrt(variance + eps)
    normed = (spectra - mean) / sigma
    return normed * mix(sigma, lam, perm) + mix(mean, lam, perm)


def freq_mixstyle(spectra: tf.Tensor, seed: tf.Tensor, prob: float, alpha: float) -> tf.Tensor:
    """Freq-MixStyle (Schmid et al., DCASE 2024 Task 1 baseline): with probability ``prob``
    the whole batch is re-styled (:func:`mix_frequency_statistics`) with a permutation of
    the batch and lambda ~ Beta(alpha, alpha) per clip; otherwise it is returned as is.
    Targets are unchanged: it imitates another recording device, not another scene."""
    size = tf.shape(spectra)[0]
    perm = tf.argsort(tf.random.stateless_uniform([size], seed=fold_seed(seed, 0)))
    lam = sample_beta([size], alpha, seed)
    applied = tf.random.stateless_uniform([], seed=fold_seed(seed, 3)) < prob
    return tf.cond(applied, lambda: mix_frequency_statistics(spectra, lam, perm), lambda: spectra)


def convolve_responses(waveforms: tf.Tensor, responses: tf.Tensor, seed: tf.Tensor, prob: float) -> tf.Tensor:
    """DIR augmentation: each waveform, with probability ``prob``, convolved with a
    uniformly drawn impulse response, keeping its first ``samples`` samples (the response
    delays and colours the clip; its length does not change).

    Args:
      waveforms: float32 (batch, samples).
      responses: float32 (n_responses, response_samples).
      seed: shape-(2,) stateless seed.

    Returns:
      float32 (batch, samples); the convolution is computed by FFT (a linear, not
      circular, convolution: the FFT length covers samples + response_samples - 1).
    """
    batch = tf.shape(waveforms)[0]
    samples, response_samples = int(waveforms.shape[1]), int(responses.shape[1])  # static: the clip length
    apply = tf.random.stateless_uniform([batch], seed=fold_seed(seed, 1)) < prob
    pick = tf.random.stateless_uniform([batch], seed=fold_seed(seed, 2), minval=0, maxval=int(responses.shape[0]),
                                       dtype=tf.int32)
    chosen = tf.gather(responses, pick)
    fft_length = 1 << (samples + response_samples - 2).bit_length()  # a power of two >= the full length
    spectrum = tf.signal.rfft(waveforms, [fft_length]) * tf.signal.rfft(chosen, [fft_length])
    convolved = tf.signal.irfft(spectrum, [fft_length])[:, :samples]
    return tf.where(apply[:, tf.newaxis], convolved, waveforms)


def augment_batch(spectra: tf.Tensor, targets: dict[str, tf.Tensor], seed: tf.Tensor,
                  cfg: AugmentConfig) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """All configured augmentations in the order time stretch, Freq-MixStyle, mixup, masking."""
    if cfg.stretch_prob > 0.0:
        spectra = time_stretch(spectra, fold_seed(seed, 100), cfg.stretch_prob,
                               cfg.stretch_min_rate, cfg.stretch_max_rate)
    if cfg.mixstyle_prob > 0.0:
        spectra = freq_mixstyle(spectra, fold_seed(seed, 150), cfg.mixstyle_prob, cfg.mixstyle_alpha)
    if cfg.mixup_prob > 0.0:
        spectra, targets = mixup(spectra, targets, fold_seed(seed, 200), cfg.mixup_prob, cfg.mixup_alpha)
    if (cfg.freq_masks and cfg.freq_mask_max_bins) or (cfg.time_masks and cfg.time_mask_max_frames):
        spectra = time_frequency_mask(spectra, fold_seed(seed, 300), cfg.freq_masks, cfg.freq_mask_max_bins,
                                      cfg.time_masks, cfg.time_mask_max_frames)
    return spectra, targets
