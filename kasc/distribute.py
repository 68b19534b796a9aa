"""Training on several devices with TensorFlow's own distribution engine (``train.strategy``).

- ``default``: one device, as without a strategy;
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs, or over the
  devices named in ``train.devices`` (``["/cpu:0", "/cpu:1"]`` with logical CPU devices
  is how the tests run it without a GPU).

What makes N replicas train the network one device would, on the same global batch
(``train.batch_size`` is the global batch; Keras splits each batch across replicas):
the student, its optimiser and the Distiller are built in the strategy's scope;
``Distiller.train_step`` divides each replica's mean loss by N before the gradients
are summed across replicas (``kasc.distill.scale_loss_for_replicas``); batch
normalisation is synchronised over the global batch
(``kasc.models.layers.FusedBatchNormalization``). Cached soft targets are computed
once, before training, by the one process, and travel with the batches.

Mixed precision is ``train.mixed_precision`` (``kasc.train.dtype_policy``). Not yet:
``multi_worker`` (``MultiWorkerMirroredStrategy`` with the cluster from ``TF_CONFIG``).
"""

from __future__ import annotations

STRATEGIES = ("default", "mirrored")
"""The values of ``train.strategy``."""


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
    raise StrategyError(f"train.strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def split_cpu(n_devices: int) -> None:
    """Make ``n_devices`` logical CPU devices (``/cpu:0`` ...), before TensorFlow starts
    its runtime: how a mirrored run is tried without GPUs."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n_devices)
