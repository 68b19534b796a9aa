import numpy as np
import pytest
import tensorflow as tf

from kasc.data import augment
from kasc.config import AugmentConfig

SEED = tf.constant([1, 2], tf.int64)


def _batch(n=6, frames=28, mels=16):
    rng = np.random.default_rng(0)
    return tf.constant(rng.standard_normal((n, frames, mels, 1)).astype(np.float32))


def test_mix_label_arithmetic():
    x = tf.constant(np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1))
    y = tf.constant(np.eye(3, dtype=np.float32))
    lam, perm = tf.constant([0.7, 1.0, 0.25]), tf.constant([1, 2, 0])
    mixed_y = augment.mix(y, lam, perm).numpy()
    np.testing.assert_allclose(mixed_y, [[0.7, 0.3, 0], [0, 1, 0], [0.75, 0, 0.25]], atol=1e-6)
    np.testing.assert_allclose(augment.mix(x, lam, perm).numpy().ravel(), [0.3, 1.0, 0.5], atol=1e-6)


def test_mixup_mixes_inputs_and_all_targets_with_one_lambda():
    x = _batch()
    y = tf.one_hot([0, 1, 2, 3, 4, 5], 6)
    logits = tf.constant(np.random.default_rng(1).standard_normal((6, 6)).astype(np.float32))
    mx, targets = augment.mixup(x, {"label": y, "teacher": logits}, SEED, prob=1.0, alpha=0.3)
    label = targets["label"].numpy()
    np.testing.assert_allclose(label.sum(axis=1), 1.0, atol=1e-6)
    own = label[np.arange(6), np.arange(6)]  # lambda of clip i (its class is i)
    assert ((own > 0.0) & (own <= 1.0)).all()
    for i in range(6):
        j = [k for k in range(6) if label[i, k] > 0 and k != i]
        j = j[0] if j else i
        np.testing.assert_allclose(mx[i].numpy(), own[i] * x[i].numpy() + (1 - own[i]) * x[j].numpy(), atol=1e-5)
        np.testing.assert_allclose(targets["teacher"][i].numpy(),
                                   own[i] * logits[i].numpy() + (1 - own[i]) * logits[j].numpy(), atol=1e-5)


def test_mixup_prob_zero_is_identity():
    x, y = _batch(), tf.one_hot([0, 1, 2, 3, 4, 5], 6)
    mx, targets = augment.mixup(x, {"label": y}, SEED, prob=0.0, alpha=0.3)
    np.testing.assert_array_equal(mx.numpy(), x.numpy())
    np.testing.assert_array_equal(targets["label"].numpy(), y.numpy())


def test_beta_samples_match_distribution():
    lam = augment.sample_beta([20000], 0.3, SEED).numpy()
    assert 0 <= lam.min() and lam.max() <= 1
    assert lam.mean() == pytest.approx(0.5, abs=0.02)
    assert lam.var() == pytest.approx(0.25 / (2 * 0.3 + 1), rel=0.05)  # Var Beta(a, a) = 1 / (4 (2a + 1))


def test_masks_keep_shape_and_mask_within_bounds():
    x = _batch()
    out = augment.time_frequency_mask(x, SEED, freq_masks=2, freq_mask_max_bins=4, time_masks=1, time_mask_max_frames=5)
    assert out.shape == x.shape
    changed = (out.numpy() != x.numpy())[..., 0]
    assert changed.any()
    for clip in changed:
        rows = clip.all(axis=1).sum()  # masked frames span every band
        cols = clip.all(axis=0).sum()
        assert rows <= 5 and cols <= 8


def test_time_stretch_keeps_shape_and_rate_one_is_identity():
    x = _batch()
    np.testing.assert_allclose(augment.stretch_frames(x, tf.ones([6]), tf.zeros([6])).numpy(), x.numpy(), atol=1e-6)
    out = augment.time_stretch(x, SEED, prob=1.0, min_rate=0.7, max_rate=1.4)
    assert out.shape == x.shape and not np.allclose(out.numpy(), x.numpy())
    half = augment.stretch_frames(x, tf.fill([6], 0.5), tf.zeros([6])).numpy()
    np.testing.assert_allclose(half[:, ::2], x.numpy()[:, :14], atol=1e-6)  # slowed 2x: every other frame is original
    np.testing.assert_allclose(half[:, 1], 0.5 * (x.numpy()[:, 0] + x.numpy()[:, 1]), atol=1e-6)


def test_augment_batch_reproducible_from_seed():
    cfg = AugmentConfig(mixup_prob=1.0, freq_masks=1, freq_mask_max_bins=3, stretch_prob=1.0)
    x, y = _batch(), {"label": tf.one_hot(range(6), 6)}
    a = augment.augment_batch(x, y, SEED, cfg)[0].numpy()
    b = augment.augment_batch(x, y, SEED, cfg)[0].numpy()
    c = augment.augment_batch(x, y, tf.constant([1, 3], tf.int64), cfg)[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def _numpy_freq_mixstyle(x, lam, perm, eps=1e-6):
    """The DCASE 2024 baseline's definition on (B, T, F, 1): statistics per clip and band
    over time and channel, unbiased variance."""
    mu = x.mean(axis=(1, 3), keepdims=True)
    sig = np.sqrt(x.var(axis=(1, 3), keepdims=True, ddof=1) + eps)
    lam = lam.reshape(-1, 1, 1, 1)
    mu_mix = lam * mu + (1 - lam) * mu[perm]
    sig_mix = lam * sig + (1 - lam) * sig[perm]
    return (x - mu) / sig * sig_mix + mu_mix


def test_freq_mixstyle_matches_its_definition_on_constructed_input():
    rng = np.random.default_rng(0)
    # clip 0: bands with means 0..5 and std 1; clip 1: means 10..15 and std 3
    x = np.stack([rng.normal(np.arange(6), 1.0, size=(40, 6)),
                  rng.normal(np.arange(10, 16), 3.0, size=(40, 6))])[..., None].astype(np.float32)
    lam, perm = np.array([0.25, 1.0], np.float32), np.array([1, 0])
    out = augment.mix_frequency_statistics(tf.constant(x), tf.constant(lam), tf.constant(perm)).numpy()
    np.testing.assert_allclose(out, _numpy_freq_mixstyle(x, lam, perm), rtol=1e-5, atol=1e-4)
    # clip 0 now has a quarter of its own band statistics and three quarters of clip 1's
    expected_mean = 0.25 * x[0].mean(axis=(0, 2)) + 0.75 * x[1].mean(axis=(0, 2))
    np.testing.assert_allclose(out[0].mean(axis=(0, 2)), expected_mean, rtol=1e-5)
    expected_std = 0.25 * x[0].std(axis=(0, 2), ddof=1) + 0.75 * x[1].std(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(out[0].std(axis=(0, 2), ddof=1), expected_std, rtol=1e-3)
    np.testing.assert_allclose(out[1], x[1], atol=1e-4)  # lambda 1 keeps a clip's own style


def test_freq_mixstyle_probability_and_seed():
    x = tf.constant(np.random.default_rng(1).normal(size=(8, 20, 12, 1)).astype(np.float32))
    seed = tf.constant([3, 4], tf.int64)
    assert np.array_equal(augment.freq_mixstyle(x, seed, 0.0, 0.3).numpy(), x.numpy())
    once, again = augment.freq_mixstyle(x, seed, 1.0, 0.3).numpy(), augment.freq_mixstyle(x, seed, 1.0, 0.3).numpy()
    assert np.array_equal(once, again) and not np.allclose(once, x.numpy(), atol=1e-3)
    # per-band means are mixtures: they stay within the batch's range of per-band means
    means = x.numpy().mean(axis=(1, 3))
    assert np.all(once.mean(axis=(1, 3)) >= means.min(axis=0) - 1e-4)
    assert np.all(once.mean(axis=(1, 3)) <= means.max(axis=0) + 1e-4)
    applied = [not np.allclose(augment.freq_mixstyle(x, tf.constant([s, 0], tf.int64), 0.4, 0.3).numpy(), x.numpy())
               for s in range(200)]
    assert 0.3 < np.mean(applied) < 0.5  # a whole batch with probability 0.4
