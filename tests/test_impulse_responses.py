"""Device impulse responses: the augmentation against its definition, the fixed halves,
decoding and caching, the unseen-device copy of a split, and ``kasc.device_shift``."""

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from kasc.data import augment
from kasc.data.impulse_responses import convolve_fixed, load_responses, response_files
from kasc.data.table import DatasetError
from tests.conftest import shared_path

SEED = tf.constant([3, 4], tf.int64)


def _responses(n=3, length=50, seed=0):
    rng = np.random.default_rng(seed)
    out = rng.normal(0, 0.3, (n, length)).astype(np.float32)
    out[:, 0] = 1.0
    return out


def test_convolution_is_the_linear_convolution_with_one_of_the_responses():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.2, (6, 1000)).astype(np.float32)
    responses = _responses()
    out = augment.convolve_responses(tf.constant(x), tf.constant(responses), SEED, prob=1.0).numpy()
    used = set()
    for clip, result in zip(x, out):
        candidates = [np.convolve(clip, r)[:1000] for r in responses]  # the definition: 'full', first samples
        errors = [np.abs(result - c).max() for c in candidates]
        assert min(errors) < 1e-4, errors
        used.add(int(np.argmin(errors)))
    assert len(used) > 1  # drawn per clip, not one response for the batch
    again = augment.convolve_responses(tf.constant(x), tf.constant(responses), SEED, prob=1.0).numpy()
    np.testing.assert_array_equal(out, again)  # seeded
    untouched = augment.convolve_responses(tf.constant(x), tf.constant(responses), SEED, prob=0.0).numpy()
    np.testing.assert_array_equal(untouched, x)


def test_probability_is_per_clip():
    x = np.random.default_rng(2).normal(0, 0.2, (400, 256)).astype(np.float32)
    out = augment.convolve_responses(tf.constant(x), tf.constant(_responses(length=8)), SEED, prob=0.3).numpy()
    changed = np.abs(out - x).max(axis=1) > 1e-6
    assert 0.22 < changed.mean() < 0.38


def test_fixed_halves_are_disjoint_and_cover_the_folder(tmp_path):
    for i in range(5):
        sf.write(tmp_path / f"mic{i}.wav", _responses(1, 64, seed=i)[0], 44100, subtype="FLOAT")
    (tmp_path / "notes.txt").write_text("not a response")
    every = response_files(tmp_path)
    training, held_out = response_files(tmp_path, "training_half"), response_files(tmp_path, "held_out_half")
    assert [p.name for p in every] == [f"mic{i}.wav" for i in range(5)]
    assert [p.name for p in training] == ["mic0.wav", "mic2.wav", "mic4.wav"]
    assert [p.name for p in held_out] == ["mic1.wav", "mic3.wav"]
    with pytest.raises(DatasetError, match="subset must be one of all, training_half, held_out_half"):
        response_files(tmp_path, "odd")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no .wav impulse responses"):
        response_files(tmp_path / "empty")
    with pytest.raises(DatasetError, match="impulse-response folder not found"):
        response_files(tmp_path / "missing")


def test_responses_are_resampled_and_cached_like_audio(tmp_path):
    (tmp_path / "dirs").mkdir()
    for i, rate in enumerate((44100, 48000)):  # 0.1 s and 0.092 s
        sf.write(tmp_path / "dirs" / f"mic{i}.wav", _responses(1, 4410, seed=i)[0] * 0.5, rate, subtype="FLOAT")
    files = response_files(tmp_path / "dirs")
    responses = load_responses(files, 16000, tmp_path / "cache")
    assert responses.dtype == np.float32 and responses.shape == (2, 1600)  # the longer: 0.1 s at 16 kHz
    assert list((tmp_path / "cache").glob("*.npy"))  # decoded once
    np.testing.assert_array_equal(load_responses(files, 16000, tmp_path / "cache"), responses)


def test_shared_folder_halves():
    folder = shared_path("dirs")
    assert len(response_files(folder, "training_half")) == len(response_files(folder, "held_out_half")) == 33


def test_unseen_device_copy_is_fixed_per_clip():
    from scipy.signal import fftconvolve

    from kasc.data.audio import from_int16, to_int16

    rng = np.random.default_rng(3)
    waveforms = to_int16(rng.normal(0, 0.1, (7, 800)))
    responses = _responses(4, 30)
    shifted, choice = convolve_fixed(waveforms, responses, seed=5)
    again, same_choice = convolve_fixed(waveforms, responses, seed=5)
    np.testing.assert_array_equal(shifted, again)
    np.testing.assert_array_equal(choice, same_choice)
    assert shifted.dtype == np.int16 and shifted.shape == waveforms.shape and len(set(choice)) > 1
    for clip, out, k in zip(waveforms, shifted, choice):
        expected = to_int16(fftconvolve(from_int16(clip), responses[k])[:800])
        assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_pipeline_applies_dir_before_the_log_mel_and_needs_responses():
    from kasc.config import AugmentConfig, FeatureConfig
    from kasc.data.pipeline import Pipeline
    from kasc.data.features import LogMel
    from tests.test_pipeline import _split

    split = _split(8)
    logmel = LogMel(FeatureConfig(n_mels=32), 16000)
    with_dir = AugmentConfig(seed=1, dir_prob=1.0)
    with pytest.raises(ValueError, match="needs impulse_responses"):
        Pipeline(split, logmel, 4).training(with_dir)
    plain = next(iter(Pipeline(split, logmel, 4).training(AugmentConfig(seed=1))))[0].numpy()
    responses = _responses(2, 400)
    first = next(iter(Pipeline(split, logmel, 4, impulse_responses=responses).training(with_dir)))[0].numpy()
    second = next(iter(Pipeline(split, logmel, 4, impulse_responses=responses).training(with_dir)))[0].numpy()
    assert first.shape == plain.shape and not np.allclose(first, plain)
    np.testing.assert_array_equal(first, second)


def test_dir_settings_are_checked():
    from kasc.config import ConfigError, load_config
    from kasc.data.preflight import check_paths

    with pytest.raises(ConfigError, match="augment.dir_subset must be one of all, training_half, held_out_half"):
        load_config("plain_student", ["augment.dir_subset=half"])
    with pytest.raises(ConfigError, match="augment.dir_prob must be a probability"):
        load_config("plain_student", ["augment.dir_prob=2"])
    cfg = load_config("plain_student", ["augment.dir_prob=0.5", "augment.dir_folder=/no/such/dirs"])
    with pytest.raises(ConfigError, match="augment.dir_folder must be a folder of .wav impulse responses"):
        check_paths(cfg, "here")


@pytest.mark.slow
def test_device_shift_command_writes_its_table_and_json(tmp_path, capsys):
    import json

    from kasc.files.atomic import write_json
    from kasc.device_shift import main as shift_main
    from tests.conftest import write_tau_dataset
    from tests.test_evaluate import make_run

    names = [(f"audio/{s}-x-{i}-{i}0-0-a.wav", s) for i, s in enumerate(["bus", "park", "bus", "park"])]
    root = write_tau_dataset(tmp_path / "d", names, train=[n for n, _ in names[:2]], evaluate=[n for n, _ in names[2:]],
                             rate=16000)
    run = make_run(tmp_path, root)
    write_json(run.metrics_file, {**run.metrics(), "finished": True})
    dirs = tmp_path / "dirs"
    dirs.mkdir()
    for i in range(4):
        sf.write(dirs / f"mic{i}.wav", _responses(1, 441, seed=i)[0], 44100, subtype="FLOAT")
    table = tmp_path / "shift.md"
    assert shift_main([str(run.path), "--dirs", str(dirs), "--output", str(table)]) == 0
    result = json.loads((run.path / "device_shift.json").read_text())
    assert result["held_out_responses"] and set(result["held_out_responses"]) <= {"mic1", "mic3"}
    assert result["clean"]["clips"] == result["unseen_devices"]["clips"] == 2
    assert "| run | clean accuracy | unseen-device accuracy" in table.read_text()
    assert table.read_text().startswith("# Accuracy on unseen devices\n")  # a page with a title
    assert shift_main([str(tmp_path / "nowhere")]) == 2
    assert "not a finished run folder" in capsys.readouterr().err
