import math

import numpy as np
import pytest

from kasc.config import FeatureConfig
from kasc.data.features import LogMel, hz_to_mel, mel_band_edges_hz, mel_filterbank, mel_to_hz, num_frames


def test_report_mel_scale_is_equation_1():
    f = np.array([0.0, 500.0, 1000.0, 4000.0, 8000.0])
    np.testing.assert_allclose(hz_to_mel(f), 1000 / math.log(2) * np.log(1 + f / 1000))
    assert hz_to_mel(1000.0) == pytest.approx(1000.0)  # 1 kHz is 1000 mel on this scale
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)
    np.testing.assert_allclose(hz_to_mel(f, "htk"), 2595 * np.log10(1 + f / 700))


def test_filter_centres_follow_equation_1():
    bank = mel_filterbank(16000, 2048, 256)
    assert bank.shape == (1025, 256)
    edges = mel_band_edges_hz(256, 0.0, 8000.0)
    centres_mel = hz_to_mel(edges[1:-1])
    np.testing.assert_allclose(np.diff(centres_mel), np.diff(centres_mel)[0], rtol=1e-9)  # equally spaced
    bin_hz = 16000 / 2048
    peaks = bank.argmax(axis=0) * bin_hz
    # each filter peaks at one of the two FFT bins around its centre (triangles are asymmetric)
    assert np.all(np.abs(peaks - edges[1:-1]) < bin_hz)
    assert np.median(np.abs(peaks - edges[1:-1])) < bin_hz / 2
    assert np.all(bank.max(axis=0) > 0.5)  # no empty filter
    htk = mel_filterbank(16000, 2048, 256, scale="htk")
    assert not np.allclose(htk, bank)


def test_28_frames_per_second_and_shapes():
    assert num_frames(16000) == 28
    logmel = LogMel(FeatureConfig(), 16000)
    out = logmel(np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32) * 0.1)
    assert tuple(out.shape) == (3, 28, 256, 1) == (3, *logmel.output_shape(16000))
    assert np.isfinite(out.numpy()).all()


def test_tone_lands_in_its_band():
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)[None]
    out = LogMel(FeatureConfig(), 16000)(tone).numpy()[0, :, :, 0]
    band = int(out.mean(axis=0).argmax())
    lower, upper = mel_band_edges_hz(256, 0, 8000)[[band, band + 2]]
    assert lower <= 1000.0 <= upper


def test_bad_scale_rejected():
    with pytest.raises(ValueError, match="features.mel_scale"):
        hz_to_mel(100.0, "slaney")


def test_the_tflite_switch_computes_the_same_log_mel():
    """One front end: LogMel with for_tflite (the waveform model's, weighted scatters) gives the
    log-mel of the dense product, for the report's and EfficientAT's settings."""
    import numpy as np

    from kasc.config import FeatureConfig
    from kasc.data.features import LogMel

    clip = np.random.default_rng(0).normal(0, 0.1, (1, 8000)).astype(np.float32)
    for cfg in (FeatureConfig(n_fft=512, hop_samples=256, n_mels=64),
                FeatureConfig(n_fft=1024, hop_samples=320, n_mels=32, win_samples=800, mel_scale="kaldi",
                              center=True, preemphasis=0.97)):
        dense, sparse = LogMel(cfg, 16000)(clip).numpy(), LogMel(cfg, 16000, for_tflite=True)(clip).numpy()
        assert sparse.shape == dense.shape == (1, *LogMel(cfg, 16000).output_shape(8000))
        np.testing.assert_allclose(sparse, dense, atol=1e-4)
