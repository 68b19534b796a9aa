"""A run folder's checkpoint that cannot be trusted stops the run with one line, instead of
training again from epoch 1 over the epochs it had (``kasc.files.runs.RunDir.state``)."""

import json

import pytest

from kasc.files.runs import CorruptCheckpoint, RunDir


def _run(tmp_path, logged: int, weights: bool = True, state_epoch: int | None = None) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.checkpoint_dir.mkdir(parents=True)
    run.log_csv.write_text("epoch,loss\n" + "".join(f"{e},1.0\n" for e in range(logged)))
    if weights:
        run.weights.write_bytes(b"weights")
    if state_epoch is not None:
        run.state_file.write_text(json.dumps({"epoch": state_epoch, "train_seconds": 1.0}))
    return run


def test_a_removed_checkpoint_with_epochs_logged_is_refused_not_retrained(tmp_path):
    run = _run(tmp_path, logged=4, weights=False, state_epoch=4)
    with pytest.raises(CorruptCheckpoint, match=r"training_log.csv records 4 finished epoch\(s\) but "
                                                r"checkpoint/last.weights.h5 is missing, so the run cannot resume.*--restart"):
        run.state(6)
    (run.state_file).unlink()  # weights and state both gone, the log still says 4 epochs
    with pytest.raises(CorruptCheckpoint, match="records 4 finished epoch"):
        run.state(6)


def test_a_first_epoch_killed_before_its_checkpoint_still_starts_afresh(tmp_path):
    assert _run(tmp_path, logged=1, weights=False).state(6) == {}  # its log row is trimmed and trained again
    assert RunDir(tmp_path / "new").state(6) == {}


def test_a_state_beyond_the_run_or_its_log_is_refused(tmp_path):
    run = _run(tmp_path, logged=4, state_epoch=99)
    with pytest.raises(CorruptCheckpoint, match=r"state.json: says 99 finished epoch\(s\), but the run has 6; which "
                                                r"epoch last.weights.h5 holds is unknown.*--restart"):
        run.state(6)
    with pytest.raises(CorruptCheckpoint, match=r"says 99 finished epoch\(s\), but training_log.csv records 4"):
        run.state(200)
    run.state_file.write_text(json.dumps({"epoch": 5}))  # one ahead of the log: killed between the two writes
    assert run.state(6)["epoch"] == 5
    run.state_file.write_text(json.dumps({"epoch": -1}))
    with pytest.raises(CorruptCheckpoint, match="below 0"):
        run.state(6)


def test_the_outputs_line_lists_every_file_the_run_wrote(tmp_path):
    run = _run(tmp_path, logged=1)
    for name in ("model.keras", "model_int8.tflite", "model_waveform_int8.tflite", "model_export.json", "config.yaml",
                 ".kasc.lock", "x.lock", "x.lock.json"):
        (run.path / name).write_text("")
    (run.path / "tensorboard").mkdir()
    assert run.outputs() == ["checkpoint/", "config.yaml", "model.keras", "model_export.json", "model_int8.tflite",
                             "model_waveform_int8.tflite", "tensorboard/", "training_log.csv"]


def test_a_run_resumed_or_reused_keeps_the_normalisation_it_measured(tmp_path):
    """stored_normalization: the constants of config.yaml for a run of the same config (every
    other setting equal); None for another config, for constants not measured, or no run."""
    import dataclasses

    from kasc.config import load_config

    run = RunDir(tmp_path / "run")
    cfg = load_config("own_data_plain", [f"data.manifest={tmp_path / 'labels.csv'}"])
    assert cfg.features.measure_normalization
    assert run.stored_normalization(cfg) is None  # nothing there yet
    measured = dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, normalize_mean=-21.5,
                                                                     normalize_std=4.25))
    run.path.mkdir()
    run.start(measured)
    assert run.stored_normalization(cfg) == (-21.5, 4.25)
    assert run.stored_normalization(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=9))) is None
    fixed = dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, measure_normalization=False))
    run.start(dataclasses.replace(measured, features=fixed.features), restart=True)
    assert run.stored_normalization(fixed) is None
