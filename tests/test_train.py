"""``python -m kasc.train``: a tiny run end to end, distillation from a teacher run, resume
after SIGKILL, refusing a changed config, transfer learning with init_from."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss
import pytest

from kasc.config import load_config
from kasc.files.runs import RunConfigMismatch, RunDir
from kasc.train import TrainingError, main as train_main
from kasc.training.network import init_from
from tests.conftest import REPO, SCENES, tiny_config as _config

def _log_rows(run: Path) -> list[dict]:
    with open(run / "training_log.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_tiny_run_writes_every_output_and_a_rerun_reuses_it(tiny_tau, tmp_path, capsys):
    config = _config(tmp_path, "tiny", tiny_tau)
    run = tmp_path / "runs" / "tiny"
    assert train_main([str(config), "--run-dir", str(run), "--verbose", "0"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["finished"] and metrics["clips"] == 4 and metrics["class_names"] == list(SCENES)
    assert metrics["held_out"] is True and "held_out_note" not in metrics
    # the reported figures are those of the written predictions against the split's labels
    predictions = pd.read_csv(run / "predictions_valid.csv", sep="\t")
    truth = [name.split("/")[-1].split("-")[0] for name in predictions["filename"]]
    assert metrics["accuracy"] == pytest.approx(np.mean(predictions["scene_label"].to_numpy() == np.array(truth)))
    probabilities = predictions[list(SCENES)].to_numpy()
    assert metrics["log_loss"] == pytest.approx(
        log_loss([SCENES.index(t) for t in truth], probabilities, labels=[0, 1]), abs=1e-3)
    rows = _log_rows(run)
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert {"loss", "label_loss", "distillation_loss", "accuracy", "val_loss", "val_accuracy",
            "learning_rate"} <= set(rows[0])
    assert float(rows[0]["learning_rate"]) > float(rows[1]["learning_rate"])  # at the peak, then the final rate
    assert list((run / "tensorboard" / "train").glob("events.out.tfevents.*"))
    details = list((run / "tensorboard" / "validation_details").glob("events.out.tfevents.*"))
    assert details, "per-device / per-class accuracy and the confusion image are written after the last epoch"
    import tensorflow as tf

    tags = {v.tag for event in tf.compat.v1.train.summary_iterator(str(details[0])) for v in event.summary.value}
    assert {"class_accuracy/bus", "class_accuracy/park", "device_accuracy/a", "confusion_matrix"} <= tags
    assert (run / "confusion.png").is_file() and (run / "predictions_valid.csv").is_file()
    assert load_config(run / "config.yaml") == load_config(config)  # the resolved config round-trips
    model = keras.models.load_model(run / "model.keras")
    assert model.output_shape == (None, 2)
    capsys.readouterr()
    assert train_main([str(config), "--run-dir", str(run), "--verbose", "0"]) == 0
    assert "already finished" in capsys.readouterr().out


@pytest.mark.slow
def test_distillation_from_a_teacher_run_with_cached_targets(tiny_tau, tmp_path, capsys):
    teacher = _config(tmp_path, "teacher", tiny_tau, "train: {epochs: 1, batch_size: 4, export: false}\n", base="default")
    student = _config(tmp_path, "kd", tiny_tau, f"distill: {{teachers: ['{teacher}'], temperature: 2.0, label_weight: 0.5}}\n")
    run = tmp_path / "runs" / "kd"
    assert train_main([str(student), "--run-dir", str(run), "--verbose", "0"]) == 0
    assert (tmp_path / "runs" / "teacher" / "model.keras").is_file()  # the teacher run, beside the student's
    rows = _log_rows(run)
    assert all(float(r["distillation_loss"]) > 0 for r in rows)
    caches = sorted((tmp_path / "cache" / "soft_targets").glob("teacher-*.npy"))
    assert len(caches) == 1 and np.load(caches[0]).shape == (8, 2)
    # trained again with the cache entry present (no teacher loaded): the same run
    capsys.readouterr()
    assert train_main([str(student), "--run-dir", str(run), "--restart", "--verbose", "0"]) == 0
    assert _log_rows(run) == rows
    assert "the student's --restart keeps its teachers" in capsys.readouterr().out  # the teacher was reused
    # a changed teacher config is refused until the teacher is retrained; then its targets are recomputed
    teacher.write_text(teacher.read_text().replace("epochs: 1,", "epochs: 2,"))
    assert train_main([str(student), "--run-dir", str(run), "--restart", "--verbose", "0"]) == 2
    assert train_main([str(teacher), "--run-dir", str(tmp_path / "runs" / "teacher"), "--restart", "--verbose", "0"]) == 0
    assert train_main([str(student), "--run-dir", str(run), "--restart", "--verbose", "0"]) == 0
    assert len(sorted((tmp_path / "cache" / "soft_targets").glob("teacher-*.npy"))) == 2


@pytest.mark.slow
def test_teacher_set_trains_the_teachers_alike_and_a_leaking_teacher_is_refused(tiny_tau, tmp_path, capsys):
    teacher = _config(tmp_path, "teacher", tiny_tau, "train: {epochs: 1, batch_size: 4, export: false}\n", base="default")
    student = _config(tmp_path, "kd", tiny_tau, f"distill: {{teachers: ['{teacher}', '{teacher} train.batch_size=2'], "
                      f"teacher_set: {{train.seed: 3}}}}\n")
    run = tmp_path / "runs" / "kd"
    assert train_main([str(student), "--run-dir", str(run), "--verbose", "0"]) == 0
    trained = RunDir(tmp_path / "runs" / "teacher--seed3")  # named by the setting that changed it
    assert load_config(trained.config_file).train.seed == 3 and not (tmp_path / "runs" / "teacher").exists()
    own = load_config(tmp_path / "runs" / "teacher--batch_size2--seed3" / "config.yaml")  # the entry's own setting too
    assert (own.train.seed, own.train.batch_size) == (3, 2)
    agreement = json.loads((run / "metrics.json").read_text())["teacher_agreement"]
    assert 0.0 <= agreement <= 1.0 and (run / "teachers_valid.csv").is_file()
    # settings that leave the teacher as it is keep its own folder name
    same = _config(tmp_path, "kd_same", tiny_tau, f"distill: {{teachers: ['{teacher}'], teacher_set: {{train.seed: 0}}}}\n")
    assert train_main([str(same), "--run-dir", str(tmp_path / "runs" / "kd_same"), "--verbose", "0"]) == 0
    assert (tmp_path / "runs" / "teacher" / "model.keras").is_file()
    capsys.readouterr()
    # a teacher trained on the student's validation clips would leak them: refused before it trains
    leak = _config(tmp_path, "kd_leak", tiny_tau, f"distill: {{teachers: ['{teacher}'], teacher_set: "
                   f"{{data.train_split: fold1_evaluate, data.valid_split: fold1_train}}}}\n")
    assert train_main([str(leak), "--run-dir", str(tmp_path / "runs" / "kd_leak"), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert "teacher teacher's training and the student's validation split" in err and "4 audio file(s)" in err
    assert not (tmp_path / "runs" / "teacher--train_splitfold1_evaluate--valid_splitfold1_train").exists()


@pytest.mark.slow
@pytest.mark.parametrize("onednn", ["0", "1"])
def test_a_diverging_run_stops_with_one_error_line_on_both_kernel_paths(tiny_tau, tmp_path, onednn):
    """learning rate 1e8: whatever goes non-finite first (training loss, validation loss or
    weights), the run stops with one error line naming the epoch, keeps no non-finite
    checkpoint and exports nothing."""
    import os

    config = _config(tmp_path, "diverge", tiny_tau, "train: {epochs: 3, batch_size: 4, warmup_epochs: 0, "
                     "decay_end_epoch: 3, learning_rate: 1.0e+8, export: true}\n")
    run = tmp_path / "run"
    result = subprocess.run(_train_command(config, run), capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn})
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "non-finite" in errors[0] or "became" in errors[0], result.stderr[-2000:]
    assert "at epoch" in errors[0] and "Traceback" not in result.stderr
    assert not (run / "model_int8.tflite").exists() and not (run / "model.keras").exists()
    if (run / "checkpoint" / "last.weights.h5").exists():  # an earlier, finite epoch
        import h5py

        with h5py.File(run / "checkpoint" / "last.weights.h5") as weights:
            arrays = []
            weights.visititems(lambda name, item: arrays.append(item[()]) if hasattr(item, "shape") else None)
        assert all(np.isfinite(a).all() for a in arrays if np.issubdtype(np.asarray(a).dtype, np.floating))


@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_error_line_naming_it_never_a_silent_restart(tiny_tau, tmp_path, capsys):
    config = _config(tmp_path, "damaged", tiny_tau)
    run = RunDir(tmp_path / "run")
    assert train_main([str(config), "--run-dir", str(run.path), "--verbose", "0"]) == 0
    run.metrics_file.unlink()  # as if killed after the last checkpoint, before the results
    good = run.weights.read_bytes()
    for damage in (good[: len(good) // 3], b"\x00" * 64 + good[64:]):
        run.weights.write_bytes(damage)
        capsys.readouterr()
        assert train_main([str(config), "--run-dir", str(run.path), "--verbose", "0"]) == 2
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and str(run.weights) in err and "--restart" in err and "Traceback" not in err
    run.weights.write_bytes(good)
    run.state_file.write_text('{"epoch": 2, "train_sec')
    assert train_main([str(config), "--run-dir", str(run.path), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert str(run.state_file) in err and "--restart" in err
    assert run.weights.read_bytes() == good  # nothing was overwritten
    assert train_main([str(config), "--run-dir", str(run.path), "--restart", "--verbose", "0"]) == 0


def _train_command(config: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "kasc.train", str(config), "--run-dir", str(run), "--verbose", "2"]


@pytest.mark.slow
def test_sigkill_then_same_command_resumes_and_matches_an_uninterrupted_run(tiny_tau, tmp_path, capsys):
    """Also: while the first command trains, a second one on its folder is refused with its
    pid; after the kill, the lock it held is free and its owner record reported as stale."""
    config = _config(tmp_path, "resume", tiny_tau, "train: {epochs: 6, batch_size: 4, warmup_epochs: 2, "
                     "decay_end_epoch: 6, export: false}\n")
    run = tmp_path / "runs" / "killed"
    proc = subprocess.Popen(_train_command(config, run), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "checkpoint" / "state.json"
    deadline = time.monotonic() + 600  # generous: CI machines may be slow or loaded
    while time.monotonic() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None and state.is_file(), "no checkpoint to kill at within 10 minutes, or the run ended first"
    try:
        assert train_main([str(config), "--run-dir", str(run), "--verbose", "0"]) == 2
        refused = capsys.readouterr().err
        assert f"run folder {run} is in use by pid {proc.pid}" in refused and "kasc.train" in refused
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert 2 <= killed_at < 6 and not (run / "metrics.json").exists()

    resumed = subprocess.run(_train_command(config, run), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"after epoch {killed_at} of 6" in resumed.stdout
    assert f"pid {proc.pid} ended without releasing it" in resumed.stdout
    assert [int(r["epoch"]) for r in _log_rows(run)] == list(range(6))  # each epoch logged once
    assert not list(run.rglob("*.tmp*")) and not (run / ".kasc.lock.json").exists()

    straight = tmp_path / "runs" / "straight"
    assert train_main([str(config), "--run-dir", str(straight), "--verbose", "0"]) == 0
    a = json.loads((run / "metrics.json").read_text())
    b = json.loads((straight / "metrics.json").read_text())
    assert a["log_loss"] == pytest.approx(b["log_loss"], rel=1e-3, abs=1e-4)  # same batches, same updates


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_is_one_line_saying_what_was_kept(tiny_tau, tmp_path, sig):
    config = _config(tmp_path, "stopped", tiny_tau, "train: {epochs: 4000, batch_size: 4, warmup_epochs: 2, "
                     "decay_end_epoch: 4000, export: false}\n")  # far more than it gets to run
    run = tmp_path / "runs" / "stopped"
    # as from a terminal: SIGINT at its default (pytest-xdist's workers start children with it
    # ignored, and Python then installs no KeyboardInterrupt handler: Ctrl-C would do nothing)
    proc = subprocess.Popen(_train_command(config, run), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state = run / "checkpoint" / "state.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and not state.is_file():
        time.sleep(0.2)
    assert proc.poll() is None and state.is_file(), "no checkpoint within 10 minutes, or the run ended first"
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # never left training 4000 epochs behind a failed test
    assert proc.returncode == 128 + sig, err[-2000:]
    kept = json.loads(state.read_text())["epoch"]
    lines = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert lines == [f"interrupted by {'Ctrl-C (SIGINT)' if sig == signal.SIGINT else 'SIGTERM'}: the checkpoint "
                     f"of {run} keeps epoch {kept} of 4000; run the same command again to resume"], err[-2000:]
    assert "Traceback" not in err and not (run / ".kasc.lock.json").exists()


@pytest.mark.slow
def test_disk_full_at_a_checkpoint_is_one_error_line_and_the_rerun_resumes(tiny_tau, tmp_path, monkeypatch, capsys):
    """A fake full disk from the second checkpoint on (kasc.files.atomic.free_bytes reports 0)."""
    import kasc.files.atomic

    config = _config(tmp_path, "full", tiny_tau, "train: {epochs: 4, batch_size: 4, warmup_epochs: 1, "
                     "decay_end_epoch: 4, export: false}\n")
    run = tmp_path / "runs" / "full"
    real_free, real_save = kasc.files.atomic.free_bytes, RunDir.save_checkpoint
    full = {"on": False}

    def save_checkpoint(self, model, epoch, train_seconds):
        full["on"] = full["on"] or epoch == 2
        return real_save(self, model, epoch, train_seconds)

    monkeypatch.setattr(kasc.files.atomic, "free_bytes", lambda folder: 0 if full["on"] else real_free(folder))
    monkeypatch.setattr(RunDir, "save_checkpoint", save_checkpoint)
    assert train_main([str(config), "--run-dir", str(run), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert f"error: no space left to write {run / 'checkpoint' / 'last.weights.h5'}: it needs about" in err
    assert "Traceback" not in err
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 1  # the last one intact
    assert [int(r["epoch"]) for r in _log_rows(run)] == [0, 1]  # epoch 2 (index 1) logged, not checkpointed
    assert not list(run.rglob("*.tmp*"))

    monkeypatch.setattr(kasc.files.atomic, "free_bytes", real_free)  # space freed
    monkeypatch.setattr(RunDir, "save_checkpoint", real_save)
    assert train_main([str(config), "--run-dir", str(run), "--verbose", "0"]) == 0
    assert "resuming" in capsys.readouterr().out
    assert [int(r["epoch"]) for r in _log_rows(run)] == [0, 1, 2, 3]  # no duplicate row


def _can_mount_tmpfs() -> bool:
    import shutil

    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.mark.slow
def test_a_real_full_disk_during_training(tiny_tau, tmp_path):
    """The issue's case on a real small tmpfs (a private mount namespace, no root needed where
    user namespaces are allowed; skipped elsewhere): the checkpoint does not fit, one error
    line, nothing half-written; with more space the same command resumes."""
    if not _can_mount_tmpfs():
        pytest.skip("cannot mount a tmpfs here (unshare -rm not permitted)")
    # width 16: a 490 KB checkpoint, of which a 800 KB disk holds one, not two
    config = _config(tmp_path, "wide", tiny_tau, "model: {params: {width: 16, head_channels: 32}}\n"
                     "train: {epochs: 4, decay_end_epoch: 4}\n")
    mount = tmp_path / "small_disk"
    mount.mkdir()
    command = " ".join(_train_command(config, mount / "run"))
    script = f"""mount -t tmpfs -o size=800k tmpfs {mount}
{command} > {tmp_path}/first.out 2> {tmp_path}/first.err; echo "first $?"
ls -A {mount}/run {mount}/run/checkpoint | tr '\\n' ' '; echo
mount -o remount,size=8m {mount}
{command} > {tmp_path}/second.out 2> {tmp_path}/second.err; echo "second $?"
cat {mount}/run/training_log.csv | cut -d, -f1 | tr '\\n' ' '; echo
"""
    result = subprocess.run(["unshare", "-rm", "bash", "-c", script], cwd=REPO, capture_output=True, text=True,
                            timeout=900)
    lines = result.stdout.splitlines()
    first_err = (tmp_path / "first.err").read_text()
    assert lines[0] == "first 2", first_err[-3000:]
    errors = [line for line in first_err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no space left to write" in errors[0] and "last.weights.h5" in errors[0]
    assert "Traceback" not in first_err
    assert ".tmp" not in lines[1]  # no temporary file left
    assert lines[2] == "second 0", (tmp_path / "second.err").read_text()[-3000:]
    assert lines[3].split() == ["epoch", "0", "1", "2", "3"]


@pytest.mark.slow
def test_two_identical_commands_at_once_one_trains_one_is_refused(tiny_tau, tmp_path):
    config = _config(tmp_path, "twice", tiny_tau, "data: {cache_dir: " + str(tmp_path / "fresh_cache" / "audio") + "}\n")
    run = tmp_path / "runs" / "twice"
    procs = [subprocess.Popen(_train_command(config, run), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    try:
        outputs = [proc.communicate(timeout=600) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    codes = [proc.returncode for proc in procs]
    assert sorted(codes) == [0, 2], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert f"is in use by pid {procs[winner].pid}" in outputs[loser][1]
    assert [int(r["epoch"]) for r in _log_rows(run)] == [0, 1]


def test_a_run_folder_of_another_config_is_refused(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    run.start(load_config("plain_student", ["data.root=/no/such/folder"]))  # failed at decoding, say
    run.start(load_config("plain_student"))  # nothing was trained under the failed config: it does not block
    assert ("no epoch was finished under its earlier config (data.root: '/no/such/folder' -> "
            "'../shared/data/tau22-mini')") in capsys.readouterr().out
    run.checkpoint_dir.mkdir()
    run.weights.write_bytes(b"an epoch was trained")
    with pytest.raises(RunConfigMismatch, match=r"train.epochs: 800 -> 3.*--restart"):
        run.start(load_config("plain_student", ["train.epochs=3"]))
    run.start(load_config("plain_student", ["train.epochs=3"]), restart=True)  # explicit restart is allowed
    # a run written before a field existed: the field at its default is not a difference
    run.config_file.write_text(run.config_file.read_text().replace("  details_every: 10\n", ""))
    run.start(load_config("plain_student", ["train.epochs=3"]))
    assert "details_every: 10" in run.config_file.read_text()
    # how a run is executed is not what it trains: it resumes on another strategy or thread count
    run.start(load_config("plain_student", ["train.epochs=3", "train.strategy=mirrored", "train.intra_op_threads=1"]))
    assert "strategy: mirrored" in run.config_file.read_text()


def test_init_from_copies_matching_layers_and_names_the_rest(tmp_path):
    from kasc.models import build_model

    keras.utils.set_random_seed(0)
    donor = build_model("serfr_cnn", (None, 16, 1), 2, width=4, head_channels=8)
    donor.save(tmp_path / "donor.keras")
    keras.utils.set_random_seed(1)
    model = build_model("serfr_cnn", (None, 16, 1), 3, width=4, head_channels=8)
    summary = init_from(model, str(tmp_path / "donor.keras"))
    assert "kept fresh (logits)" in summary
    np.testing.assert_array_equal(model.get_layer("conv1_conv").get_weights()[0],
                                  donor.get_layer("conv1_conv").get_weights()[0])
    other = build_model("dcase2023_baseline", (51, 40, 1), 2)
    with pytest.raises(TrainingError, match="no layer"):
        init_from(other, str(tmp_path / "donor.keras"))


def test_dcase_verdict_counts_macs_per_second_of_audio():
    from kasc.complexity.costs import audit_keras
    from kasc.models import build_model
    from kasc.complexity.verdict import per_second_complexity

    cfg = load_config("us8k_plain_student")  # 4 s clips
    model = build_model("serfr_cnn", (None, 256, 1), 10, width=4, head_channels=8)
    clip_audit = audit_keras(model, (122, 256, 1)).to_dict()
    verdict = per_second_complexity(cfg, model, clip_audit)
    assert verdict["macs_per_second"] == audit_keras(model, (28, 256, 1)).macs < clip_audit["macs"] / 3
    assert verdict["macs_basis"] == "28 frames (1 s)" and verdict["within_limits"]
    baseline_cfg = load_config("us8k_baseline")
    fixed = per_second_complexity(baseline_cfg, model, {"macs": 120_000_000, "param_bytes": 50_000})
    assert fixed["macs_per_second"] == 30_000_000 and fixed["macs_basis"] == "clip MACs / 4 s"


@pytest.mark.slow
def test_a_run_validated_on_its_training_clips_says_its_scores_are_not_held_out(tiny_tau, tmp_path, capsys):
    """A final model trained on every clip (``train_split: A+B``, ``allow_overlap``) has no
    held-out score: metrics.json and the run's messages say so."""
    config = _config(tmp_path, "every_clip", tiny_tau, "data: {train_split: fold1_train+fold1_evaluate, "
                                                      "valid_split: fold1_evaluate, allow_overlap: true}\n"
                                                      "train: {epochs: 1, warmup_epochs: 1, decay_end_epoch: 1}\n")
    run = tmp_path / "runs" / "every_clip"
    assert train_main([str(config), "--run-dir", str(run), "--verbose", "0"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["held_out"] is False and metrics["validation_clips_trained_on"] == metrics["clips"] == 4
    assert "4 of the 4 validation clips were trained on" in metrics["held_out_note"]
    out = capsys.readouterr().out
    assert "the validation scores are not held out" in out and "NOT HELD OUT (scored on training clips)" in out


@pytest.mark.slow
def test_averaged_weights_are_validated_delivered_and_resumed(tiny_tau, tmp_path, monkeypatch):
    """train.ema_momentum: each epoch's validation scores the moving average of the weights,
    the saved network is that average (its scores are the last epoch's validation), and a
    run interrupted after a checkpoint resumes to the same network as one never interrupted
    (the checkpoint holds the training weights and the averages, each in its place)."""
    from kasc.training.callbacks import EpochCheckpoint
    from kasc.training.weight_average import AveragedWeightsForValidation

    settings = "train: {epochs: 4, batch_size: 4, warmup_epochs: 1, decay_end_epoch: 4, ema_momentum: 0.7, learning_rate: 0.01}\n"
    config = _config(tmp_path, "ema", tiny_tau, settings)
    straight = tmp_path / "runs" / "straight"
    assert train_main([str(config), "--run-dir", str(straight), "--verbose", "0"]) == 0
    metrics = json.loads((straight / "metrics.json").read_text())
    last = _log_rows(straight)[-1]
    assert float(last["val_loss"]) == pytest.approx(metrics["log_loss"], rel=1e-3)

    # the same run without averaging ends elsewhere: the test above could fail
    plain = tmp_path / "runs" / "plain"
    assert train_main([str(_config(tmp_path, "no_ema", tiny_tau, settings.replace("0.7", "0.0"))),
                       "--run-dir", str(plain), "--verbose", "0"]) == 0
    assert json.loads((plain / "metrics.json").read_text())["log_loss"] != pytest.approx(metrics["log_loss"], rel=1e-3)

    # interrupted after epoch 2's checkpoint, or after the last one (before the network was
    # saved: fit does not run again, the averages are loaded), then resumed
    save = EpochCheckpoint.on_epoch_end
    a = keras.models.load_model(straight / "model.keras").get_weights()
    for stop_after in (2, 4):
        def save_then_stop(self, epoch, logs=None):
            save(self, epoch, logs)
            if epoch + 1 == stop_after:
                raise KeyboardInterrupt

        monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", save_then_stop)
        resumed = tmp_path / "runs" / f"resumed_after_{stop_after}"
        assert train_main([str(config), "--run-dir", str(resumed), "--verbose", "0"]) == 128 + signal.SIGINT
        assert json.loads((resumed / "checkpoint" / "state.json").read_text())["epoch"] == stop_after
        monkeypatch.setattr(EpochCheckpoint, "on_epoch_end", save)
        assert train_main([str(config), "--run-dir", str(resumed), "--verbose", "0"]) == 0
        again = json.loads((resumed / "metrics.json").read_text())
        assert again["log_loss"] == pytest.approx(metrics["log_loss"], rel=1e-4, abs=1e-5), stop_after
        b = keras.models.load_model(resumed / "model.keras").get_weights()
        assert all(np.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(a, b)), stop_after
    assert AveragedWeightsForValidation  # the callback the runs used (fitting.py adds it with ema_momentum)


def test_ema_momentum_outside_zero_to_one_is_refused(tmp_path):
    from kasc.config import ConfigError

    with pytest.raises(ConfigError, match=r"train\.ema_momentum.*\[0, 1\)"):
        load_config("plain_student", ["train.ema_momentum=1.0"])
