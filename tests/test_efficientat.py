"""The AudioSet-pretrained teacher: EfficientAT's MobileNetV3 and front end in Keras,
checked against EfficientAT's own outputs on three real clips, and distillation through
a teacher's own front end."""

from __future__ import annotations

import numpy as np
import pytest

from kasc.config import load_config
from kasc.data.features import LogMel, frames_for, mel_filterbank
from kasc.models import build_model, load_model, load_pretrained, logits_model
from kasc.models.efficientat import build_efficientat_mn, load_efficientat_weights
from tests.conftest import shared_path, write_tau_dataset

MN04_TRAINABLE_PARAMETERS = 983_599  # EfficientAT's state dict without BN running statistics


def _reference():
    folder = shared_path("pretrained")
    return folder / "efficientat_mn04_as.npz", np.load(folder / "efficientat_mn04_as_reference.npz")


def test_mn04_has_efficientats_parameter_count():
    model = build_efficientat_mn((None, 128, 1), n_classes=527, width=0.4)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == MN04_TRAINABLE_PARAMETERS
    assert model.get_layer("stem_conv").filters == 8 and model.get_layer("head_conv").filters == 384
    assert model.get_layer("head_dense").units == 512


def test_mn04_reproduces_efficientats_logits_and_embedding_from_its_mel():
    weights, reference = _reference()
    model = build_efficientat_mn((None, 128, 1), n_classes=527, width=0.4)
    result = load_pretrained(model, weights)
    assert result["skipped"] == [] and len(result["loaded"]) == 110
    logits = logits_model(model)
    import keras

    embedding = keras.Model(model.input, model.get_layer("head_pool").output)
    for i in range(3):
        mel = reference[f"clip{i}_mel"]  # (128 mels, frames), EfficientAT's layout
        x = mel.T[None, :, :, None]  # kasc's (batch, frames, mels, 1)
        np.testing.assert_allclose(logits(x, training=False).numpy()[0], reference[f"clip{i}_logits"], atol=1e-3)
        np.testing.assert_allclose(embedding(x, training=False).numpy()[0], reference[f"clip{i}_embedding"],
                                   atol=1e-3)


def test_efficientat_front_end_reproduces_the_reference_mel():
    _, reference = _reference()
    cfg = load_config("frontend_efficientat")
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    for i in range(3):
        wave, mel = reference[f"clip{i}_wave32k"], reference[f"clip{i}_mel"]
        assert frames_for(cfg.features, len(wave)) == mel.shape[1]
        out = logmel(wave[None]).numpy()[0, :, :, 0].T
        np.testing.assert_allclose(out, mel, atol=1e-3)


def test_kaldi_filterbank_is_triangular_in_mel_and_ignores_nyquist():
    bank = mel_filterbank(32000, 1024, 128, 0.0, 15000.0, "kaldi")
    assert bank.shape == (513, 128)
    assert np.all(bank[512] == 0.0) and np.all(bank >= 0.0) and bank.max() <= 1.0
    assert np.all(bank[:, 20:].max(axis=0) > 0.5)  # wide upper filters reach near their peak on some bin
    assert np.all(bank[480:512].sum(axis=1) == 0.0)  # nothing above 15 kHz


def test_fine_tuning_head_is_fresh_and_bad_files_are_named(tmp_path):
    weights, _ = _reference()
    model = build_efficientat_mn((None, 128, 1), n_classes=10, width=0.4)
    before = model.get_layer("logits").get_weights()[0].copy()
    result = load_pretrained(model, weights)
    assert result["skipped"] == ["logits"]
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[0], before)
    wider = build_efficientat_mn((None, 128, 1), n_classes=10, width=0.5)
    fresh = wider.get_layer("stem_conv").get_weights()[0].copy()
    with pytest.raises(ValueError, match="block2_expand_conv needs.*another width"):
        load_efficientat_weights(wider, weights)
    np.testing.assert_array_equal(wider.get_layer("stem_conv").get_weights()[0], fresh)  # nothing half-loaded
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{"features.0.0.weight": np.zeros((8, 1, 3, 3), np.float32)})
    with pytest.raises(ValueError, match="features.0.1.weight.*stem_bn"):
        load_pretrained(model, broken)


def test_mn_saves_and_loads_with_the_same_outputs(tmp_path):
    model = build_model("efficientat_mn", (None, 32, 1), 3, width=0.1)
    x = np.random.default_rng(0).normal(size=(2, 20, 32, 1)).astype("float32")
    model.save(tmp_path / "mn.keras")
    np.testing.assert_allclose(load_model(tmp_path / "mn.keras")(x).numpy(), model(x).numpy(), atol=1e-6)


def test_soft_targets_come_through_the_teachers_own_front_end(tmp_path):
    """A teacher at 32 kHz with EfficientAT's front end labels a 16 kHz student's clips:
    its logits equal the teacher run on the clips decoded at 32 kHz through its front end."""
    from kasc.data.audio import from_int16, load_clip, to_int16
    from kasc.data.pipeline import prepare_splits
    from kasc.files.runs import RunDir
    from kasc.training.teachers.soft_targets import cached_teacher_logits

    names = [(f"audio/{scene}-lisbon-{i}-0-0-a.wav", scene) for i, scene in enumerate(["bus", "park", "bus", "park"])]
    root = write_tau_dataset(tmp_path / "d", names, train=[n for n, _ in names], evaluate=[n for n, _ in names[:2]])
    data = [f"data.root={root}", f"data.cache_dir={tmp_path / 'cache' / 'audio'}", "data.allow_overlap=true"]
    student_cfg = load_config("plain_student", data)
    train = prepare_splits(student_cfg.data, progress=False)["train"]
    assert train.waveforms.shape == (4, 16000)

    teacher_yaml = tmp_path / "teacher.yaml"
    teacher_yaml.write_text("extends: [plain_student, frontend_efficientat]\nname: t32k\n")
    teacher_cfg = load_config(teacher_yaml, data)
    run = RunDir(tmp_path / "teacher_run")
    run.start(teacher_cfg)
    teacher = build_model("efficientat_mn", (None, 128, 1), 2, width=0.1)
    run.save_model(teacher)

    logits = cached_teacher_logits(student_cfg, train, run.model_file, progress=False)
    clips = np.stack([to_int16(load_clip(paths, 32000, 32000)) for paths in train.table["paths"]])
    own = LogMel(teacher_cfg.features, 32000)(from_int16(clips))
    assert own.shape[1:] == (100, 128, 1)  # 1 + (32000 - 1) // 320
    np.testing.assert_allclose(logits, logits_model(teacher)(own, training=False).numpy(), atol=1e-4)
    assert list((tmp_path / "cache" / "soft_targets").glob("teacher_run-*.npy"))  # stored for the next run
    np.testing.assert_array_equal(cached_teacher_logits(student_cfg, train, run.model_file, progress=False), logits)
