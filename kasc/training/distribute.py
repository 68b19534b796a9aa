"""Training on several devices with TensorFlow's own distribution engine (``train.strategy``).

- ``default``: one device, as without a strategy;
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs, or over the
  devices named in ``train.devices`` (``["/cpu:0", "/cpu:1"]`` with logical CPU devices
  is how the tests run it without a GPU);
- ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` over the processes
  named in ``TF_CONFIG`` (the same command started once per worker, each with its own
  ``TF_CONFIG``; see the README).

What makes N replicas train the network one device would, on the same global batch
(``train.batch_size`` is the global batch; Keras splits each batch across replicas):
the student, its optimiser and the Distiller are built in the strategy's scope;
``Distiller.train_step`` divides each replica's mean loss by N before the gradients
are summed across replicas (``kasc.training.distill.scale_loss_for_replicas``); batch
normalisation is synchronised over the global batch
(``kasc.models.layers.FusedBatchNormalization``). Cached soft targets are computed
before training, outside the strategy, and travel with the batches; under several
workers each worker needs them for its own clips, and the cache entry (keyed by the
teacher file's bytes, the same on every worker) is computed by the first worker to take
it, the others waiting and reading it (on storage they share; elsewhere each computes
the same values).

Multi-worker runs (:class:`WorkerRole`): every worker runs the same phases in lockstep.
The chief (task ``chief``, else ``worker`` 0) owns the run folder and writes everything in
it; another worker starts from a copy of the chief's folder, taken after the chief has
prepared it (so all agree on resuming or finishing), writes its checkpoints, logs and
TensorBoard to a temporary folder that is deleted at exit, skips the export, evaluation
and QAT, and waits for the chief to finish them. Teachers are trained the same way, and
every worker then reads the chief's teacher files (so the soft-target cache, keyed by
them, is the same on every worker). The run folder must be on storage every worker
reads (one machine, or a shared file system). Each
worker's input pipeline yields only its replicas' parts of every global batch
(``Pipeline.training(shard=...)``), with its own augmentation seeds.

Mixed precision is ``train.mixed_precision`` (``kasc.train.dtype_policy``).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

from kasc.config import STRATEGIES  # the allowed values live with the config schema
from kasc.config.run_layout import LOCK_FILE
from kasc.files.locks import hold_for_process



class StrategyError(ValueError):
    """A strategy cannot be made here (unknown name, devices that do not exist)."""


_STRATEGIES: dict = {}


def make_strategy(name: str, devices: tuple[str, ...] = ()):
    """The ``tf.distribute.Strategy`` for ``train.strategy`` / ``train.devices``; one
    instance per setting in a process (a teacher and its student share it: separate
    instances would reuse the same collective-operation keys).

    Raises:
      StrategyError: an unknown name, or named devices that TensorFlow does not see.
    """
    key = (name, tuple(devices))
    if key not in _STRATEGIES:
        _STRATEGIES[key] = _new_strategy(name, tuple(devices))
    return _STRATEGIES[key]


def _new_strategy(name: str, devices: tuple[str, ...]):
    # TensorFlow on first use: --help and config errors answer before it loads
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices:
            known = {"/" + d.name.lower().rsplit("device:", 1)[-1] for d in tf.config.list_logical_devices()}
            missing = [d for d in devices if "/" + d.lower().lstrip("/").rsplit("device:", 1)[-1] not in known]
            if missing:
                raise StrategyError(f"train.devices: {missing} not among this machine's devices "
                                    f"({', '.join(sorted(known))})")
        return tf.distribute.MirroredStrategy(list(devices) or None)
    if name == "multi_worker":
        cluster_config()  # a clear error before TensorFlow's
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (ValueError, RuntimeError) as err:
            raise StrategyError(f"multi_worker: TensorFlow cannot start the cluster of TF_CONFIG: {err}") from err
    raise StrategyError(f"train.strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def cluster_config() -> dict:
    """``TF_CONFIG`` as a dict, checked: ``{"cluster": {"worker": ["host:port", ...]
    [, "chief": [...]]}, "task": {"type": "worker", "index": i}}``.

    Raises:
      StrategyError: unset, not JSON, or the task not in the cluster.
    """
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        raise StrategyError('train.strategy multi_worker needs TF_CONFIG, e.g. TF_CONFIG=\'{"cluster": {"worker": '
                            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' '
                            '(one index per worker; see the README)')
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        members = cluster[task["type"]]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise StrategyError(f"TF_CONFIG must be JSON with 'cluster' and 'task' ({{'type', 'index'}}) "
                            f"naming a member of the cluster: {type(err).__name__} {err} in {text!r}") from None
    if not 0 <= index < len(members):
        raise StrategyError(f"TF_CONFIG: task {task['type']} {index} is not in the cluster's "
                            f"{len(members)} {task['type']}(s)")
    return config


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in a multi-worker run: ``index`` of ``count`` processes
    (the chief is 0); ``count`` 1 outside ``multi_worker``."""

    index: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def worker_role(strategy_name: str) -> WorkerRole:
    """The role ``TF_CONFIG`` gives this process under ``train.strategy`` (chief, if not
    multi-worker). A ``chief`` task is index 0 and the workers follow it; without one,
    ``worker`` 0 is the chief (TensorFlow's rule)."""
    if strategy_name != "multi_worker":
        return WorkerRole()
    config = cluster_config()
    cluster, task = config["cluster"], config["task"]
    chiefs = len(cluster.get("chief", []))
    count = chiefs + len(cluster.get("worker", []))
    index = 0 if task["type"] == "chief" else chiefs + int(task["index"])
    if task["type"] not in ("chief", "worker"):
        raise StrategyError(f"TF_CONFIG: task type {task['type']!r}; multi_worker runs tasks 'chief' and 'worker'")
    return WorkerRole(index, count)


def local_tf_configs(n_workers: int) -> list[str]:
    """``TF_CONFIG`` values of an ``n_workers`` cluster on localhost, one per worker, on
    ports free when asked (how the tests and the scaling benchmark start workers)."""
    sockets = [socket.socket() for _ in range(n_workers)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        workers = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
            for i in range(n_workers)]


def lost_a_worker(err: BaseException) -> bool:
    """True for the errors TensorFlow raises in every worker when another worker of a
    multi-worker run stops (its heartbeats stop: the collective operations abort)."""
    return (type(err).__module__.startswith("tensorflow")
            and type(err).__name__ in ("UnavailableError", "AbortedError", "DeadlineExceededError"))


def agreed(strategy, value: int, what: str) -> int:
    """Every worker's ``value`` compared through one all-reduce; also a barrier (each
    worker returns once all have called it). A no-op on one worker.

    Raises:
      StrategyError: the workers hold different values (``what`` names it).
    """
    # TensorFlow on first use (through evaluation's inference): --help and config errors answer before it loads
    import tensorflow as tf
    from kasc.evaluation.inference import in_multi_worker_mode

    if not in_multi_worker_mode(strategy):
        return value

    # all n values are equal exactly when n * sum(v^2) == sum(v)^2
    moments = tf.constant([1.0, value, float(value) ** 2], tf.float64)
    per_replica = strategy.run(lambda: tf.identity(moments))
    count, total, squares = (float(v) for v in strategy.reduce("SUM", per_replica, axis=None).numpy())
    if count * squares != total**2:
        raise StrategyError(f"the workers disagree on {what}: this one has {value}, their mean is {total / count:g}")
    return value


def split_cpu(n_devices: int) -> None:
    """Make ``n_devices`` logical CPU devices (``/cpu:0`` ...), before TensorFlow starts
    its runtime: how a mirrored run is tried without GPUs."""
    # TensorFlow on first use: --help and config errors answer before it loads
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n_devices)


_SCRATCH: list = []

def worker_folder(role: WorkerRole, name: str):
    """A folder named ``name`` in this process's temporary folder, where a worker other
    than the chief writes (deleted when the process exits; ``python -m kasc.clean``
    finds those of killed processes)."""
    if not _SCRATCH:
        folder = Path(tempfile.mkdtemp(prefix=f"kasc-worker{role.index}-pid{os.getpid()}-"))
        # held while this process lives: kasc.clean removes the folder only once the lock is free
        _SCRATCH.extend([folder, hold_for_process(folder / LOCK_FILE)])
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return _SCRATCH[0] / name
