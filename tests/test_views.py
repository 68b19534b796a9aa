"""Pre-drawn views (kasc.data.views): the plan, rendering at any rate, and the proof that
teacher and student hear the same audio (pipeline batches against the cached view logits)."""

import dataclasses

import keras
import numpy as np
import pandas as pd
import pytest

from kasc.config import AugmentConfig, ConfigError, ExperimentConfig, FeatureConfig, load_config
from kasc.data.audio import INT16_SCALE
from kasc.data.pipeline import Pipeline, SplitData, steps_per_epoch
from kasc.data.views import draw_views, plan_for, render, view_labels
from kasc.data.features import LogMel
from kasc.data.batch_keys import LABELS, SOFT_TARGETS


def _tones(n: int, rate: int, seconds: float = 0.25) -> np.ndarray:
    """int16 (n, samples): clip i is a sum of two low tones (so every rate samples the same sound)."""
    t = np.arange(int(round(seconds * rate))) / rate
    return np.stack([(0.3 * np.sin(2 * np.pi * (60 + 20 * i) * t) + 0.2 * np.sin(2 * np.pi * (150 + 7 * i) * t + i))
                     * INT16_SCALE for i in range(n)]).astype(np.int16)


def test_plan_is_seeded_and_in_range():
    plan = draw_views(7, 5, seed=3, mixup_prob=0.5, shift_prob=0.5, gain_db=6.0, dir_prob=0.5, n_responses=4)
    again = draw_views(7, 5, seed=3, mixup_prob=0.5, shift_prob=0.5, gain_db=6.0, dir_prob=0.5, n_responses=4)
    other = draw_views(7, 5, seed=4, mixup_prob=0.5, shift_prob=0.5, gain_db=6.0, dir_prob=0.5, n_responses=4)
    assert plan.digest() == again.digest() != other.digest()
    assert plan.partner.shape == (5, 7) and plan.views == 5 and plan.clips == 7
    assert (plan.partner != np.arange(7)[None, :]).all()  # never mixed with itself
    assert ((plan.mix > 0) & (plan.mix <= 1)).all() and (plan.mix < 1).any() and (plan.mix == 1).any()
    assert ((plan.shift >= 0) & (plan.shift < 1)).all() and (plan.shift == 0).any() and (plan.shift > 0).any()
    assert (np.abs(plan.gain_db) <= 6).all()
    assert set(np.unique(plan.response)) <= {-1, 0, 1, 2, 3} and (plan.response == -1).any()
    same = plan_for(AugmentConfig(seed=5, views=3, views_seed=9), 7)
    assert same.digest() == plan_for(AugmentConfig(seed=6, views=3, views_seed=9), 7).digest()
    assert plan_for(AugmentConfig(seed=9, views=3), 7).digest() == same.digest()  # -1: augment.seed
    plain = draw_views(7, 2, seed=0, mixup_prob=0.0)
    assert (plain.mix == 1).all() and (plain.shift == 0).all() and (plain.gain_db == 0).all()
    assert (plain.response == -1).all()
    with pytest.raises(ValueError, match="impulse responses"):
        draw_views(7, 2, seed=0, dir_prob=0.5)


def test_render_follows_the_plan():
    waves = _tones(4, 8000)
    plan = draw_views(4, 3, seed=1, mixup_prob=1.0, shift_prob=1.0, gain_db=3.0)
    rows = np.array([2, 0])
    out = render(waves, plan, 1, rows)
    x = waves.astype(np.float32) / INT16_SCALE
    for k, i in enumerate(rows):
        j, lam = plan.partner[1, i], plan.mix[1, i]
        n = x.shape[1]
        own = np.roll(x[i], int(np.rint(plan.shift[1, i] * n)))
        other = np.roll(x[j], int(np.rint(plan.partner_shift[1, i] * n)))
        expected = (lam * own + (1 - lam) * other) * 10 ** (plan.gain_db[1, i] / 20)
        np.testing.assert_allclose(out[k], expected, atol=1e-5)
    labels = view_labels(np.array([0, 1, 2, 1]), plan, 1, rows, 3)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-6)
    assert labels[0, 2] >= plan.mix[1, 2] - 1e-6  # clip 2 is class 2


def test_a_view_is_the_same_sound_at_every_sample_rate():
    """The student (16 kHz) and a teacher at 32 kHz render the same mixture, gain, response
    and shift from their own decodings: the 32 kHz view taken every other sample is the
    16 kHz view (exactly without shifts; with them, up to the rounding of a shift to whole
    samples at each rate, at most one 32 kHz sample, 31 microseconds)."""

    def responses(rate):  # a delay of 1 ms and one of 2.5 ms with an echo, at each rate
        out = np.zeros((2, rate // 100), np.float32)
        out[0, rate // 1000] = 0.9
        out[1, int(rate * 0.0025)] = 0.7
        out[1, int(rate * 0.005)] = 0.2
        return out

    def both(plan):
        low = np.concatenate([render(_tones(5, 16000), plan, v, np.arange(5), responses(16000)) for v in range(4)])
        high = np.concatenate([render(_tones(5, 32000), plan, v, np.arange(5), responses(32000)) for v in range(4)])
        assert low.shape[1] * 2 == high.shape[1]
        assert np.abs(low).max() > 0.2  # there is sound to compare
        return low, high[:, ::2]

    low, high = both(draw_views(5, 4, seed=2, mixup_prob=1.0, gain_db=6.0, dir_prob=1.0, n_responses=2))
    assert np.abs(high - low).max() < 1e-3  # int16 rounding of the decoded clips
    low, high = both(draw_views(5, 4, seed=2, mixup_prob=1.0, shift_prob=1.0, gain_db=6.0, dir_prob=1.0,
                                n_responses=2))
    assert np.abs(high - low).max() < 0.1
    for a, b in zip(low, high):
        assert np.corrcoef(a, b)[0, 1] > 0.99


def test_a_view_played_faster_moves_every_pitch_alike_at_every_sample_rate():
    """augment.speed_semitones: a tone of f Hz in a view at speed r is a tone of r * f Hz, at
    16 kHz as at 32 kHz, and the two renderings are the same sound."""
    plan = draw_views(3, 2, seed=5, mixup_prob=0.0, speed_semitones=3.0)
    assert ((plan.speed >= 2 ** (-3 / 12) - 1e-6) & (plan.speed <= 2 ** (3 / 12) + 1e-6)).all()
    assert len(np.unique(plan.speed)) == plan.speed.size  # a speed per view and clip

    def tone(rate, seconds=1.0, hz=440.0):
        t = np.arange(int(rate * seconds)) / rate
        return np.stack([0.5 * np.sin(2 * np.pi * hz * t)] * 3) * INT16_SCALE

    for view in range(2):
        low = render(tone(16000).astype(np.int16), plan, view, np.arange(3))
        high = render(tone(32000).astype(np.int16), plan, view, np.arange(3))
        for row in range(3):
            peak = np.argmax(np.abs(np.fft.rfft(low[row] * np.hanning(16000))))  # 1 Hz bins over 1 s
            assert abs(peak - 440.0 * plan.speed[view, row]) <= 1.5, (view, row)
            assert np.corrcoef(low[row], high[row, ::2])[0, 1] > 0.99
    # the plan without speeds is the plan (and cache key) drawn before speeds existed
    old = draw_views(7, 3, seed=1, mixup_prob=0.5, shift_prob=0.5, gain_db=6.0)
    assert (old.speed == 1.0).all()
    fields = ("partner", "mix", "shift", "partner_shift", "gain_db", "response")
    digest = __import__("hashlib").sha256()
    for name in fields:
        array = np.ascontiguousarray(getattr(old, name))
        digest.update(name.encode() + str(array.dtype).encode() + str(array.shape).encode() + array.tobytes())
    assert old.digest() == digest.hexdigest()[:16]
    faster = draw_views(7, 3, seed=1, mixup_prob=0.5, shift_prob=0.5, gain_db=6.0, speed_semitones=2.0)
    assert all(np.array_equal(getattr(old, n), getattr(faster, n)) for n in fields)  # speeds drawn last
    assert faster.digest() != old.digest()


def _probe_teacher(n_classes: int, mels: int) -> keras.Model:
    """A fixed, deterministic 'teacher' (seeded weights) whose logits depend on the whole log-mel."""
    inputs = keras.Input((None, mels, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=keras.initializers.RandomNormal(seed=0))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(n_classes, name="logits", kernel_initializer=keras.initializers.RandomNormal(seed=1))(x)
    return keras.Model(inputs, keras.layers.Softmax(name="probabilities")(logits))


def _split(n: int, rate: int = 16000) -> SplitData:
    waves = _tones(n, rate, seconds=0.5)
    labels = np.arange(n, dtype=np.int32)  # one class per clip: a clip served twice would show
    table = pd.DataFrame({"filename": [f"c{i}.wav" for i in range(n)], "label": [f"k{i}" for i in range(n)],
                          "paths": [(f"c{i}.wav",) for i in range(n)]})
    return SplitData(table, waves, labels, [f"k{i}" for i in range(n)])


def test_teacher_and_student_hear_the_same_audio(tmp_path):
    """The cached view logits (kasc.training.teachers.soft_targets, the teacher's path) equal the teacher run on
    the very spectra the training pipeline feeds the student in each epoch."""
    from kasc.models.blocks import logits_model
    from kasc.training.teachers.view_bank import view_logits_of_one_teacher

    n, views, batch = 6, 3, 4
    features = FeatureConfig(n_fft=512, hop_samples=256, n_mels=16)
    augment = AugmentConfig(seed=7, views=views, mixup_prob=1.0, shift_prob=0.7, gain_db=6.0, speed_semitones=2.0)
    cfg = ExperimentConfig(features=features, augment=augment,
                           data=dataclasses.replace(ExperimentConfig().data, clip_seconds=0.5,
                                                    cache_dir=str(tmp_path / "cache" / "audio")))
    data = _split(n)
    teacher = _probe_teacher(n, 16)
    (tmp_path / "teacher").mkdir()
    teacher.save(tmp_path / "teacher" / "model.keras")  # a bare .keras file: the student's front end
    plan = plan_for(augment, n)
    bank = view_logits_of_one_teacher(cfg, data, tmp_path / "teacher" / "model.keras", plan, progress=False)
    assert bank.shape == (views, n, n)
    assert np.array_equal(view_logits_of_one_teacher(cfg, data, tmp_path / "teacher" / "model.keras", plan, progress=False),
                          bank)  # read back from the cache

    pipe = Pipeline(data, LogMel(features, 16000), batch, {SOFT_TARGETS: bank}, views=plan)
    steps = steps_per_epoch(n, batch)
    teacher_logits = logits_model(teacher)
    seen = {}
    for step, (spectra, targets) in enumerate(pipe.training(augment, seed=1).take(2 * views * steps)):
        epoch = step // steps
        heard = np.asarray(teacher_logits(spectra, training=False))
        np.testing.assert_allclose(heard, targets[SOFT_TARGETS].numpy(), atol=2e-4)
        for row in targets[SOFT_TARGETS].numpy():  # which clip: the row of the view's bank it equals
            clip = int(np.argmin(np.abs(bank[epoch % views] - row).sum(axis=1)))
            seen.setdefault(epoch, []).append(clip)
    for epoch, clips in seen.items():
        assert sorted(clips) == list(range(n)), f"epoch {epoch} served clips {clips}"


def test_views_batches_carry_the_views_mixed_labels():
    n, views, batch = 5, 2, 5
    augment = AugmentConfig(seed=3, views=views, mixup_prob=1.0)
    data = _split(n)
    plan = plan_for(augment, n)
    pipe = Pipeline(data, LogMel(FeatureConfig(n_fft=512, hop_samples=256, n_mels=16), 16000), batch, views=plan)
    for epoch, (_, targets) in enumerate(pipe.training(augment).take(4)):
        expected = view_labels(data.labels, plan, epoch % views, np.arange(n), n)
        np.testing.assert_allclose(targets[LABELS].numpy(), expected, atol=1e-6)  # a whole sorted epoch per batch


def test_views_settings_are_checked():
    with pytest.raises(ConfigError, match="augment.shift_prob"):
        load_config("us8k_plain_student", ["augment.shift_prob=0.5"])
    with pytest.raises(ConfigError, match="augment.views"):
        load_config("us8k_plain_student", ["augment.views=-1"])
    with pytest.raises(ConfigError, match=r"augment.speed_semitones.*0 unless augment.views > 0"):
        load_config("us8k_plain_student", ["augment.speed_semitones=2"])
    with pytest.raises(ConfigError, match=r"augment.speed_semitones.*\[0, 12\]"):
        load_config("us8k_consistent_plain_student", ["augment.speed_semitones=13"])
    with pytest.raises(ConfigError, match="'cached' when augment.views"):
        load_config("us8k_kd_mixed_student", ["augment.views=4", "distill.soft_targets=online"])
    with pytest.raises(ValueError, match="view plan"):
        Pipeline(_split(3), LogMel(FeatureConfig(n_fft=512, hop_samples=256, n_mels=16), 16000), 2).training(
            AugmentConfig(views=2))


def test_per_view_targets_must_match_the_plan():
    plan = draw_views(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"with views it must be \(views, clips, k\) = \(2, 3, k\)"):
        Pipeline(_split(3), LogMel(FeatureConfig(n_fft=512, hop_samples=256, n_mels=16), 16000), 2,
                 {SOFT_TARGETS: np.zeros((3, 3), np.float32)}, views=plan)


def _headed_teacher(n_classes: int, mels: int, backbone_seed: int, head_seed: int) -> keras.Model:
    """A deterministic teacher with a ``head_dense`` + ``logits`` head (as EfficientAT's) on a
    convolutional backbone: two teachers with one ``backbone_seed`` share their backbone."""
    normal = keras.initializers.RandomNormal
    inputs = keras.Input((None, mels, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=normal(seed=backbone_seed))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(6, activation="relu", name="head_dense", kernel_initializer=normal(seed=head_seed))(x)
    logits = keras.layers.Dense(n_classes, name="logits", kernel_initializer=normal(seed=head_seed + 1))(x)
    return keras.Model(inputs, keras.layers.Softmax(name="probabilities")(logits))


def test_teachers_sharing_a_backbone_label_the_views_together_with_the_logits_each_gets_alone(tmp_path, monkeypatch):
    from kasc.training.teachers import view_bank

    n = 5
    augment = AugmentConfig(seed=3, views=2, mixup_prob=1.0, shift_prob=0.5, gain_db=3.0)
    plan = plan_for(augment, n)
    data = _split(n)
    paths = []
    for name, backbone_seed, head_seed in (("a", 0, 10), ("b", 0, 20), ("c", 1, 10)):  # a and b share a backbone
        (tmp_path / name).mkdir()
        _headed_teacher(n, 16, backbone_seed, head_seed).save(tmp_path / name / "model.keras")
        paths.append(tmp_path / name / "model.keras")

    def config(cache):
        return ExperimentConfig(features=FeatureConfig(n_fft=512, hop_samples=256, n_mels=16), augment=augment,
                                data=dataclasses.replace(ExperimentConfig().data, clip_seconds=0.5,
                                                         cache_dir=str(tmp_path / cache / "audio")))

    alone = [view_bank.view_logits_of_one_teacher(config("alone"), data, path, plan, progress=False) for path in paths]
    runs = []
    real = view_bank._view_logits
    monkeypatch.setattr(view_bank, "_view_logits", lambda *a, **k: runs.append(len(a[3])) or real(*a, **k))
    together = view_bank.view_logits_of_teachers(config("together"), data, paths, plan, progress=False)
    assert sorted(runs) == [1, 2]  # a and b in one pass over the views, c in another
    for one, both in zip(alone, together):
        assert both.shape == (2, n, n)
        np.testing.assert_allclose(both, one, rtol=0, atol=1e-6)
    assert not np.allclose(together[0], together[1])  # different heads, different logits
    # each teacher's entry is the one it gets alone: read back without running anything
    runs.clear()
    again = view_bank.view_logits_of_teachers(config("together"), data, paths[::-1], plan, progress=False)
    assert runs == [] and all(np.array_equal(x, y) for x, y in zip(again, together[::-1]))
    assert np.array_equal(view_bank.view_logits_of_one_teacher(config("together"), data, paths[1], plan, progress=False),
                          together[1])


def test_an_interrupted_bank_resumes_from_the_views_it_finished(tmp_path, monkeypatch):
    """Killed while labelling view 5 of 6, the bank of two teachers run together keeps the
    first 4 views (saved every 4) and a rerun labels only views 5 and 6; a partial file of one
    teacher in the layout written before teachers were run together is read too."""
    from kasc.data import views
    from kasc.training.teachers import view_bank

    n = 3
    augment = AugmentConfig(seed=5, views=6, mixup_prob=1.0)
    plan = plan_for(augment, n)
    data = _split(n)
    paths = []
    for name, head_seed in (("a", 10), ("b", 20)):
        (tmp_path / name).mkdir()
        _headed_teacher(n, 16, 0, head_seed).save(tmp_path / name / "model.keras")
        paths.append(tmp_path / name / "model.keras")

    def config(cache):
        return ExperimentConfig(features=FeatureConfig(n_fft=512, hop_samples=256, n_mels=16), augment=augment,
                                data=dataclasses.replace(ExperimentConfig().data, clip_seconds=0.5,
                                                         cache_dir=str(tmp_path / cache / "audio")))

    whole = view_bank.view_logits_of_teachers(config("whole"), data, paths, plan, progress=False)
    calls, real = [], views.render

    class Killed(Exception):
        pass

    def render(*args, **kwargs):  # one batch per view (3 clips)
        calls.append(args[2])
        if kill_at is not None and len(calls) == kill_at:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "render", render)
    kill_at = 5
    with pytest.raises(Killed):
        view_bank.view_logits_of_teachers(config("killed"), data, paths, plan, progress=False)
    kill_at, calls[:] = None, []
    resumed = view_bank.view_logits_of_teachers(config("killed"), data, paths, plan, progress=False)
    assert calls == [4, 5]
    for one, other in zip(resumed, whole):
        np.testing.assert_allclose(one, other, rtol=0, atol=1e-6)

    # one teacher, a partial file of 4 views as (views, clips, classes)
    cfg = config("old")
    keys = view_bank.key_source_of(cfg.data, data, paths[0], cfg.features, 16000, views=plan.digest(), responses=[])
    partial = view_bank.cache_entry_path(cfg.data, paths[0], keys).with_suffix(".partial.npy")
    partial.parent.mkdir(parents=True)
    np.save(partial, whole[0][:4])
    calls[:] = []
    alone = view_bank.view_logits_of_one_teacher(cfg, data, paths[0], plan, progress=False)
    assert calls == [4, 5] and not partial.exists()
    np.testing.assert_allclose(alone, whole[0], rtol=0, atol=1e-6)
