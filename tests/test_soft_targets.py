"""``kasc.training.teachers.soft_targets``: the cache key (what makes targets stale) and ``teacher_input: recording``."""

import numpy as np
import pytest

from kasc.config import load_config
from kasc.data.audio import from_int16, load_clip, to_int16
from kasc.data.pipeline import prepare_splits
from kasc.data.features import LogMel
from kasc.models import build_model, load_model, logits_model
from kasc.files.runs import RunDir
from kasc.training.teachers import soft_targets
from tests.conftest import write_tau_dataset

N_MELS = 32


@pytest.fixture
def tiny(tmp_path):
    """Two recordings of two 1 s segments per scene in training, one clip each in validation."""
    names = [(f"audio/{scene}-lisbon-{rec}-{rec}0-{seg}-a.wav", scene)
             for scene in ("bus", "park") for rec in (1, 2, 3) for seg in (0, 1)]
    train = [n for n, _ in names if "-3-" not in n]
    evaluate = [n for n, _ in names if "-3-30-0-" in n]
    root = write_tau_dataset(tmp_path / "d", names, train, evaluate, rate=16000)
    # 32 mel bands: frequency masks sized to them (two of up to 24 would erase most bands, refused)
    overrides = [f"data.root={root}", f"data.cache_dir={tmp_path / 'cache' / 'audio'}", f"features.n_mels={N_MELS}",
                 "augment.freq_mask_max_bins=8"]
    return tmp_path, overrides


def _teacher_run(tmp_path, cfg, name="teacher", seed=0) -> RunDir:
    import keras

    run = RunDir(tmp_path / name)
    run.start(cfg)
    keras.utils.set_random_seed(seed)
    run.save_model(build_model("serfr_cnn", (None, N_MELS, 1), 2, width=4, head_channels=8))
    return run


def _counting(monkeypatch) -> list:
    calls, real = [], soft_targets._teacher_logits
    monkeypatch.setattr(soft_targets, "_teacher_logits", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_cache_key_follows_the_teacher_the_clips_and_the_input_mode(tiny, monkeypatch):
    tmp_path, overrides = tiny
    cfg = load_config("plain_student", overrides)
    train = prepare_splits(cfg.data, progress=False)["train"]
    teacher = _teacher_run(tmp_path, cfg)
    calls = _counting(monkeypatch)
    folder = tmp_path / "cache" / "soft_targets"

    first = soft_targets.cached_teacher_logits(cfg, train, teacher.model_file, progress=False)
    assert first.shape == (8, 2) and len(calls) == 1 and len(list(folder.glob("teacher-*.npy"))) == 1
    np.testing.assert_array_equal(soft_targets.cached_teacher_logits(cfg, train, teacher.model_file, progress=False),
                                  first)
    assert len(calls) == 1  # reused

    _teacher_run(tmp_path, cfg, seed=1)  # retrained: other weights, other file bytes
    retrained = soft_targets.cached_teacher_logits(cfg, train, teacher.model_file, progress=False)
    assert len(calls) == 2 and not np.allclose(retrained, first)

    fewer = prepare_splits(load_config("plain_student", overrides + ["data.max_clips_per_split=4"]).data,
                           progress=False)["train"]
    soft_targets.cached_teacher_logits(cfg, fewer, teacher.model_file, progress=False)
    assert len(calls) == 3  # another clip list

    recording_cfg = load_config("plain_student", overrides + ["distill.teacher_input=recording"])
    soft_targets.cached_teacher_logits(recording_cfg, train, teacher.model_file, progress=False)
    assert len(calls) == 4 and len(list(folder.glob("teacher-*.npy"))) == 4  # each its own file
    assert not list(folder.glob("*.tmp*"))


def test_recording_input_gives_every_clip_its_whole_recordings_targets(tiny):
    tmp_path, overrides = tiny
    cfg = load_config("plain_student", overrides + ["distill.teacher_input=recording"])
    train = prepare_splits(cfg.data, progress=False)["train"]
    teacher = _teacher_run(tmp_path, cfg)
    logits = soft_targets.cached_teacher_logits(cfg, train, teacher.model_file, progress=False)

    model = logits_model(load_model(teacher.model_file))
    logmel = LogMel(cfg.features, 16000)
    for recording, rows in train.table.groupby("recording").groups.items():
        rows = list(rows)
        assert len(rows) == 2  # two 1 s segments of one recording
        np.testing.assert_array_equal(logits[rows[0]], logits[rows[1]])  # one target for both
        paths = tuple(p for i in sorted(rows, key=lambda i: train.table["filename"][i]) for p in train.table["paths"][i])
        ten_seconds = from_int16(to_int16(load_clip(paths, 16000, 160000)))[np.newaxis]  # zero padded to 10 s
        expected = np.asarray(model(logmel(ten_seconds), training=False))[0]
        np.testing.assert_allclose(logits[rows[0]], expected, atol=1e-4)
    clip_logits = soft_targets.cached_teacher_logits(load_config("plain_student", overrides), train,
                                                     teacher.model_file, progress=False)
    assert not np.allclose(clip_logits, logits)  # the 1 s clips alone give other targets


def test_teacher_logits_show_a_progress_bar_when_asked(tiny, capfd):
    tmp_path, overrides = tiny
    cfg = load_config("plain_student", overrides)
    train = prepare_splits(cfg.data, progress=False)["train"]
    teacher = _teacher_run(tmp_path, cfg, name="shown")
    capfd.readouterr()
    soft_targets.cached_teacher_logits(cfg, train, teacher.model_file, progress=True)
    assert "logits shown" in capfd.readouterr().err
