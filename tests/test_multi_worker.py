"""``train.strategy: multi_worker``: worker processes on localhost ports (``TF_CONFIG`` set
by the test) train what one process trains, the chief alone writes the run folder, and a
run that lost a worker resumes from its last checkpoint when the job is started again.
Every process a test starts is ended by it (``_Workers``), each within a time limit."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kasc.training.distribute import StrategyError, WorkerRole, cluster_config, local_tf_configs, worker_folder, worker_role
from tests.conftest import REPO, tiny_config

TOLERANCE = 2e-3
"""Largest weight difference accepted after 6 SGD steps, relative to the largest weight
change, as for mirrored replicas (tests/test_distribute.py)."""

PROCESS_SECONDS = 300
"""The longest any worker process of these tests may run."""


class _Workers:
    """N processes of one command, worker i with its TF_CONFIG; all killed on exit."""

    def __init__(self, command: list[str], n: int, tmp_path, tag: str):
        tf_configs = local_tf_configs(n)
        self.logs = [tmp_path / f"{tag}-worker{i}.log" for i in range(n)]
        self.processes = []
        for i in range(n):
            env = {**os.environ, "TF_CONFIG": tf_configs[i], "TF_CPP_MIN_LOG_LEVEL": "2"}
            with open(self.logs[i], "w") as log:
                self.processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                                       stderr=subprocess.STDOUT, start_new_session=True))
        self.started = time.monotonic()

    def wait(self) -> list[int]:
        codes = []
        for process in self.processes:
            left = max(1.0, PROCESS_SECONDS - (time.monotonic() - self.started))
            codes.append(process.wait(timeout=left))
        return codes

    def log(self, i: int) -> str:
        return self.logs[i].read_text()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def test_tf_config_gives_each_process_its_role(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_role("default") == WorkerRole(0, 1) and WorkerRole().is_chief
    with pytest.raises(StrategyError, match="train.strategy multi_worker needs TF_CONFIG"):
        worker_role("multi_worker")
    monkeypatch.setenv("TF_CONFIG", local_tf_configs(3)[2])
    assert worker_role("multi_worker") == WorkerRole(2, 3)
    assert not worker_role("multi_worker").is_chief
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert worker_role("multi_worker") == WorkerRole(1, 3)  # the chief task comes first
    beyond = json.loads(local_tf_configs(2)[1])
    beyond["task"]["index"] = 2
    monkeypatch.setenv("TF_CONFIG", json.dumps(beyond))
    with pytest.raises(StrategyError, match="task worker 2 is not in the cluster's 2 worker"):
        cluster_config()
    monkeypatch.setenv("TF_CONFIG", "{cluster: }")
    with pytest.raises(StrategyError, match="TF_CONFIG must be JSON"):
        cluster_config()


_SGD_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from kasc.training.distribute import make_strategy
    strategy = make_strategy(sys.argv[1])
    import keras, tensorflow as tf
    from kasc.training.distill import Distiller
    from kasc.models import build_model
    from kasc.data.batch_keys import LABELS, SOFT_TARGETS
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 12, 16, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 24)]
    soft = tf.nn.softmax(rng.normal(size=(24, 3)).astype("float32")).numpy()
    with strategy.scope():
        keras.utils.set_random_seed(0)
        student = build_model("serfr_cnn", (None, 16, 1), 3, width=4, head_channels=8)
        distiller = Distiller(student, temperature=2.0, label_weight=0.5)
        initial = [np.asarray(w) for w in student.trainable_weights]
        distiller.compile(optimizer=keras.optimizers.SGD(0.01))  # its step shows a wrong loss scale
        distiller.build_for_training((None, 16, 1))
    replicas = strategy.num_replicas_in_sync

    def worker_batches(context):  # each worker: its contiguous half of every global batch of 8
        part = 8 // replicas
        start = context.input_pipeline_id * part
        ds = tf.data.Dataset.from_tensor_slices((x, {LABELS: y, SOFT_TARGETS: soft})).batch(8)
        return ds.map(lambda a, b: (a[start:start + part], {k: v[start:start + part] for k, v in b.items()}))

    data = (strategy.distribute_datasets_from_function(worker_batches) if replicas > 1
            else tf.data.Dataset.from_tensor_slices((x, {LABELS: y, SOFT_TARGETS: soft})).batch(8))
    history = distiller.fit(data, epochs=2, steps_per_epoch=3, verbose=0).history
    np.savez(sys.argv[2], *[np.asarray(w) for w in student.trainable_weights])
    np.savez(sys.argv[2] + ".initial.npz", *initial)
    print(json.dumps({"replicas": replicas, "history": {k: [float(v) for v in vs] for k, vs in history.items()}}))
""")


@pytest.mark.slow
def test_two_workers_train_what_one_process_trains(tmp_path):
    import numpy as np

    one = subprocess.run([sys.executable, "-c", _SGD_SCRIPT, "default", str(tmp_path / "one.npz")], cwd=REPO,
                         capture_output=True, text=True, timeout=PROCESS_SECONDS)
    assert one.returncode == 0, one.stderr[-3000:]
    with _Workers([sys.executable, "-c", _SGD_SCRIPT, "multi_worker", str(tmp_path / "two.npz")], 2,
                  tmp_path, "sgd") as workers:
        assert workers.wait() == [0, 0], workers.log(0)[-3000:] + workers.log(1)[-3000:]
        two = json.loads(workers.log(0).strip().splitlines()[-1])
    assert json.loads(one.stdout.strip().splitlines()[-1])["replicas"] == 1 and two["replicas"] == 2
    single, multi, initial = (np.load(tmp_path / name) for name in ("one.npz", "two.npz", "one.npz.initial.npz"))
    keys = list(single.keys())
    update = max(float(np.abs(single[k] - initial[k]).max()) for k in keys)
    difference = max(float(np.abs(single[k] - multi[k]).max()) for k in keys)
    assert update > 0.01  # the steps moved the weights
    assert difference < TOLERANCE * update, (difference, update)
    history = json.loads(one.stdout.strip().splitlines()[-1])["history"]
    for key in ("loss", "label_loss", "distillation_loss"):
        assert two["history"][key] == pytest.approx(history[key], rel=1e-4), key


@pytest.mark.slow
def test_two_workers_run_the_command_and_resume_after_a_worker_is_killed(tiny_tau, tmp_path):
    """One process trains a tiny distilled config (its teacher first), and two workers do.
    Two workers train it again, one is killed after the student's second checkpoint, the
    other stops with exit 3; started again, both resume, and the run ends as the
    uninterrupted one did."""
    plain = "augment: {mixup_prob: 0.0, freq_masks: 0, time_masks: 0}\n"
    teacher = tiny_config(tmp_path, "teacher", tiny_tau, plain + "train: {epochs: 2, batch_size: 4, export: false}\n",
                          base="default")
    config = tiny_config(tmp_path, "multi", tiny_tau, plain + f"distill: {{teachers: ['{teacher}']}}\n"
                         "train: {epochs: 5, batch_size: 4, warmup_epochs: 1, decay_end_epoch: 5, export: false}\n")
    command = [sys.executable, "-m", "kasc.train", str(config), "--verbose", "2", "--run-dir"]
    # the one-process run trains its own teacher; the interrupted two-worker run reuses the
    # teacher the uninterrupted one trained
    runs = {"single": tmp_path / "single" / "student", "whole": tmp_path / "multi" / "student",
            "interrupted": tmp_path / "multi" / "interrupted"}
    single = subprocess.run(command + [str(runs["single"])], cwd=REPO, capture_output=True, text=True,
                            timeout=PROCESS_SECONDS)
    assert single.returncode == 0, single.stderr[-3000:]
    with _Workers(command + [str(runs["whole"]), "--strategy", "multi_worker"], 2, tmp_path, "whole") as workers:
        assert workers.wait() == [0, 0], workers.log(0)[-3000:] + workers.log(1)[-3000:]
        other = workers.log(1)
    # the teacher too was trained by both workers
    assert f"worker 1 of 2: {tmp_path / 'multi' / 'teacher'} copied to" in other
    scratch = other.split("copied to ")[1].split()[0]
    assert not os.path.exists(os.path.dirname(scratch))  # the other worker's temporary folder is gone
    for name in ("student", "teacher"):  # the chief wrote both run folders
        listing = sorted(p.name for p in (tmp_path / "single" / name).iterdir())
        assert sorted(p.name for p in (tmp_path / "multi" / name).iterdir()) == listing, name
    # the soft targets were computed once: the other worker found the chief's cache entry
    assert len(list((tmp_path / "cache" / "soft_targets").glob("teacher-*.npy"))) == 2  # single's and whole's

    run = runs["interrupted"]
    multi = command + [str(run), "--strategy", "multi_worker"]
    state = run / "checkpoint" / "state.json"
    with _Workers(multi, 2, tmp_path, "first") as workers:
        while time.monotonic() - workers.started < PROCESS_SECONDS:
            if state.is_file() and json.loads(state.read_text())["epoch"] >= 2:
                break
            assert workers.processes[0].poll() is None, workers.log(0)[-3000:]
            time.sleep(0.2)
        os.killpg(workers.processes[1].pid, signal.SIGKILL)
        assert workers.processes[0].wait(timeout=120) == 3, workers.log(0)[-3000:]
        stopped = workers.log(0)
    assert "error: the multi-worker run lost a worker" in stopped and "start every worker again to resume" in stopped
    killed_at = json.loads(state.read_text())["epoch"]
    assert 2 <= killed_at < 5
    with _Workers(multi, 2, tmp_path, "again") as workers:
        assert workers.wait() == [0, 0], workers.log(0)[-3000:] + workers.log(1)[-3000:]
        chief, other = workers.log(0), workers.log(1)
    assert f"resuming {run} after epoch {killed_at} of 5" in chief
    assert "teacher: already finished" in chief
    assert f"after epoch {killed_at} of 5" in other.split("resuming ")[1]
    log = (run / "training_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["0", "1", "2", "3", "4"]  # each epoch once

    whole, resumed, reference = (json.loads((runs[name] / "metrics.json").read_text())
                                 for name in ("whole", "interrupted", "single"))
    assert all(float(row.split(",")[2]) > 0 for row in log[1:])  # distillation_loss: distilled
    assert resumed["finished"] and resumed["log_loss"] == pytest.approx(whole["log_loss"], rel=1e-4)
    # one process: 10 Adam steps on batches of 4 drift apart in float32 summation order
    # (mirrored replicas on one machine drift as far, 1 %); what it computes is tested with SGD above
    assert whole["accuracy"] == reference["accuracy"]
    assert whole["log_loss"] == pytest.approx(reference["log_loss"], rel=0.03)


def test_clean_finds_the_temporary_folders_of_killed_workers(tmp_path):
    from kasc.files.leftovers import worker_scratch_leftovers

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = tmp_path / f"kasc-worker1-pid{dead.stdout.strip()}-abc"
    (killed / "run" / "checkpoint").mkdir(parents=True)
    (killed / "run" / "checkpoint" / "state.json").write_text("{}")
    alive = worker_folder(WorkerRole(1, 2), "run").parent  # this process's, named by the code that makes it
    found = worker_scratch_leftovers(tmp_path) + worker_scratch_leftovers(alive.parent)
    assert killed in [item.path for item in found] and alive not in [item.path for item in found]
    found = [item for item in found if item.path == killed]
    assert found[0].size_bytes == 2
    found[0].remove()
    assert not killed.exists() and alive.exists()


def test_clean_judges_worker_folders_by_their_lock_not_by_the_process_id(tmp_path):
    """A folder whose worker holds its lock is in use, even if its pid looks dead here (another
    job, a pid namespace, a shared /tmp); a folder whose lock is free is a leftover, even if its
    pid is alive now (reused)."""
    import filelock

    from kasc.files.leftovers import worker_scratch_leftovers

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    in_use = tmp_path / f"kasc-worker1-pid{dead.stdout.strip()}-inuse"
    ended = tmp_path / f"kasc-worker1-pid{os.getpid()}-ended"
    for folder in (in_use, ended):
        folder.mkdir()
        (folder / ".kasc.lock").touch()
    held = filelock.FileLock(str(in_use / ".kasc.lock"), thread_local=False)
    held.acquire(timeout=0)
    try:
        assert [item.path for item in worker_scratch_leftovers(tmp_path)] == [ended]
    finally:
        held.release()
    assert sorted(item.path for item in worker_scratch_leftovers(tmp_path)) == sorted([ended, in_use])
