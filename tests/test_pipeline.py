import numpy as np
import pandas as pd
import pytest

from kasc.config import AugmentConfig, FeatureConfig, load_config
from kasc.data.pipeline import Pipeline, SplitData, prepare_splits, steps_per_epoch
from kasc.data.table import DatasetError
from kasc.data.__main__ import main as data_main
from kasc.data.features import LogMel
from kasc.data.batch_keys import LABELS


def _split(n=10, samples=16000, classes=None):
    """n clips of noise; by default one class per clip, so that a clip served twice, or
    never, shows in the labels."""
    classes = classes or n
    rng = np.random.default_rng(0)
    waveforms = (rng.standard_normal((n, samples)) * 3000).astype(np.int16)
    labels = np.arange(n, dtype=np.int32) % classes
    table = pd.DataFrame({"filename": [f"f{i}" for i in range(n)], "label": labels.astype(str)})
    return SplitData(table, waveforms, labels, [str(c) for c in range(classes)])


def _pipeline(batch=4, extra=None, n=10):
    return Pipeline(_split(n), LogMel(FeatureConfig(n_mels=32), 16000), batch, extra)


def _take(ds, n):
    return [(x.numpy(), y) for x, y in ds.take(n)]


def test_evaluation_batches_cover_split_in_order():
    batches = list(_pipeline().evaluation())
    assert [x.shape[0] for x, _ in batches] == [4, 4, 2]
    assert batches[0][0].shape == (4, 28, 32, 1)
    labels = np.concatenate([y[LABELS].numpy().argmax(1) for _, y in batches])
    np.testing.assert_array_equal(labels, np.arange(10))


def test_training_stream_is_endless_reproducible_and_resumable():
    cfg = AugmentConfig(seed=5, mixup_prob=1.0, freq_masks=1, freq_mask_max_bins=4, stretch_prob=0.5)
    pipe = _pipeline()
    steps = steps_per_epoch(10, 4)
    run = _take(pipe.training(cfg, seed=1), 3 * steps)
    again = _take(pipe.training(cfg, seed=1), 3 * steps)
    for (xa, ya), (xb, yb) in zip(run, again):
        np.testing.assert_array_equal(xa, xb)
        assert set(ya) == set(yb) == {LABELS}
        np.testing.assert_array_equal(ya[LABELS].numpy(), yb[LABELS].numpy())
    resumed = _take(pipe.training(cfg, seed=1, start_epoch=2), steps)
    for (xa, _), (xb, _) in zip(run[2 * steps:], resumed):
        np.testing.assert_array_equal(xa, xb)
    assert not np.allclose(run[0][0], run[steps][0])  # epochs differ


def test_each_epoch_visits_every_clip_once():
    pipe = _pipeline(batch=3)
    seen = np.concatenate([y[LABELS].numpy().argmax(1)
                           for _, y in pipe.training(AugmentConfig()).take(steps_per_epoch(10, 3))])
    assert sorted(seen.tolist()) == list(range(10))  # every clip once: one class per clip


def test_extra_targets_travel_with_labels_and_are_mixed():
    extra = {"teacher": np.eye(10, dtype=np.float32)[:, :3] * 4.0}
    pipe = _pipeline(extra=extra)
    x, y = next(iter(pipe.evaluation()))
    np.testing.assert_array_equal(y["teacher"].numpy(), extra["teacher"][:4])
    _, mixed = next(iter(pipe.training(AugmentConfig(mixup_prob=1.0))))
    assert set(mixed) == {LABELS, "teacher"}
    # a target that is 4 x the one-hot label must stay 4 x the mixed label: one lambda for both
    labels = np.eye(10, dtype=np.float32)[np.arange(10)]
    pipe = _pipeline(extra={"teacher": 4.0 * labels})
    seen = []
    for _, targets in pipe.training(AugmentConfig(mixup_prob=1.0, mixup_alpha=1.0)).take(6):
        np.testing.assert_allclose(targets["teacher"].numpy(), 4.0 * targets[LABELS].numpy(), rtol=1e-6, atol=1e-6)
        seen.append(targets[LABELS].numpy())
    assert not np.all(np.isin(np.concatenate(seen), (0.0, 1.0)))  # really mixed
    with pytest.raises(ValueError, match="extra target 'teacher' has 3 rows for 10 clips"):
        _pipeline(extra={"teacher": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="extra target name 'label' is taken by the labels"):
        _pipeline(extra={LABELS: np.zeros((10, 3))})


def test_prepare_splits_on_mini_set(tau22_mini, tmp_path):
    cfg = load_config("default", [f"data.cache_dir={tmp_path}", "data.max_clips_per_split=20"])
    splits = prepare_splits(cfg.data, progress=False)
    assert len(splits["train"]) == 20 and len(splits["valid"]) == 20
    assert splits["train"].waveforms.shape == (20, 16000)
    assert splits["train"].class_names == splits["valid"].class_names and len(splits["train"].class_names) == 10
    x, y = next(iter(Pipeline(splits["train"], LogMel(cfg.features, 16000), 8).evaluation()))
    assert x.shape == (8, 28, 256, 1) and set(y) == {LABELS} and y[LABELS].shape == (8, 10)


def test_valid_label_outside_training_classes(tmp_path):
    from tests.conftest import write_tau_dataset
    names = [("audio/bus-x-1-1-0-a.wav", "bus"), ("audio/tram-x-2-2-0-a.wav", "tram")]
    root = write_tau_dataset(tmp_path / "d", names, train=[names[0][0]], evaluate=[names[1][0]], seconds=0.1)
    cfg = load_config("default", [f"data.root={root}", f"data.cache_dir={tmp_path / 'c'}"])
    with pytest.raises(DatasetError, match=r"valid split has labels not in the training classes: \['tram'\]"):
        prepare_splits(cfg.data, progress=False)


def test_data_demo_prints_stats_and_writes_png(tau22_mini, tmp_path, capsys):
    png = tmp_path / "spec.png"
    assert data_main(["default", "--png", str(png), "--set", f"data.cache_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "train: 70 clips" in out and "valid: 30 clips" in out and "street_traffic" in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_data_demo_reports_bad_config(capsys):
    assert data_main(["default", "--set", "data.format=wav"]) == 2
    err = capsys.readouterr().err
    assert "data.format must be one of tau22, tau20, csv, got 'wav'" in err and "default.yaml" in err


def test_cached_logmel_training_batches_match_per_batch_logmel(tmp_path):
    """The log-mel cache changes where the spectrogram comes from, not the batches: the
    same seeds give the same augmented batches, to float16 precision of the cache."""
    from kasc.data.logmel_cache import DTYPE, cached_logmel

    split = _split(10)
    np.save(tmp_path / "audio.npy", split.waveforms)
    split.waveforms = np.load(tmp_path / "audio.npy", mmap_mode="r")  # as the audio cache hands it out
    logmel = LogMel(FeatureConfig(n_mels=32), 16000)
    spectra = cached_logmel(split.waveforms, logmel, tmp_path / "logmel", progress=False)
    assert isinstance(spectra, np.memmap) and spectra.dtype == DTYPE and spectra.shape == (10, 28, 32)
    assert len(list((tmp_path / "logmel").glob("*.npy"))) == 1
    again = cached_logmel(split.waveforms, logmel, tmp_path / "logmel", progress=False)
    assert again.filename == spectra.filename  # reused, not rebuilt
    other_front_end = cached_logmel(split.waveforms, LogMel(FeatureConfig(n_mels=32, normalize_mean=1.0), 16000),
                                    tmp_path / "logmel", progress=False)
    assert other_front_end.filename != spectra.filename

    cfg = AugmentConfig(seed=3, mixup_prob=1.0, freq_masks=1, freq_mask_max_bins=4, time_masks=1,
                        time_mask_max_frames=3, stretch_prob=1.0)
    per_batch = _take(Pipeline(split, logmel, 4).training(cfg, seed=2), 4)
    cached = _take(Pipeline(split, logmel, 4, spectra=spectra).training(cfg, seed=2), 4)
    for (x1, y1), (x2, y2) in zip(per_batch, cached):
        np.testing.assert_allclose(x2, x1, atol=2e-2, rtol=2e-3)
        np.testing.assert_array_equal(y2[LABELS].numpy(), y1[LABELS].numpy())
    with pytest.raises(ValueError, match="cached log-mel has shape"):
        Pipeline(split, logmel, 4, spectra=np.zeros((9, 28, 32), DTYPE))


@pytest.mark.parametrize("n_clips", [10, 9])  # 9 clips in batches of 4: a last batch of 1 for 2 replicas
def test_worker_shards_split_each_global_batch_into_replica_parts(n_clips):
    cfg = AugmentConfig(mixup_prob=0.0, freq_masks=0, time_masks=0)
    ids = {"clip": np.arange(n_clips, dtype=np.float32)[:, None]}

    def clips(shard, steps):
        stream = _pipeline(extra=ids, n=n_clips).training(cfg, seed=3, shard=shard)
        return [sorted(y["clip"].numpy()[:, 0].astype(int).tolist()) for _, y in stream.take(steps)]

    steps = steps_per_epoch(n_clips, 4)
    whole = clips((1, 0, 1), 2 * steps)
    first, second = clips((2, 0, 1), 2 * steps), clips((2, 1, 1), 2 * steps)
    both = clips((2, 0, 2), 4 * steps)  # one worker with both replicas: its parts in order
    assert both[0::2] == first and both[1::2] == second
    for step in range(2 * steps):
        assert first[step] and second[step]  # no replica gets an empty part
        if n_clips % 4 == 0 or (step + 1) % steps:
            assert sorted(first[step] + second[step]) == whole[step]  # the parts are the global batch
            assert abs(len(first[step]) - len(second[step])) <= 1
        else:  # the short last batch borrows the epoch's first clips so that each replica has one
            assert set(whole[step]) <= set(first[step] + second[step])
            assert len(first[step]) == len(second[step]) == 1
    with pytest.raises(ValueError, match="batch_size 4 cannot feed 5 replicas"):
        _pipeline().training(cfg, shard=(5, 0, 1))
    with pytest.raises(ValueError, match=r"shard \(2, 2, 1\): expected"):
        _pipeline().training(cfg, shard=(2, 2, 1))


def test_the_data_command_writes_a_picture_only_when_asked(tiny_tau, tmp_path, monkeypatch, capsys):
    from tests.conftest import tiny_config

    config = tiny_config(tmp_path, "tiny", tiny_tau)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert data_main([str(config)]) == 0  # describes the data and writes nothing where it runs
    assert list(here.iterdir()) == [] and "--png FILE draws" in capsys.readouterr().out
    (tmp_path / "a_file").write_text("x")
    assert data_main([str(config), "--png", str(tmp_path / "a_file" / "x.png")]) == 2  # a file where a folder must be
    err = capsys.readouterr().err
    assert err.startswith("error: --png") and err.count("\n") == 1
    assert data_main([str(config), "--png", str(tmp_path / "pics" / "logmel.png")]) == 0
    assert (tmp_path / "pics" / "logmel.png").stat().st_size > 0
