"""Phase 0 of a run: the network a config names, its input shape, weights copied from
``train.init_from``, and the Keras dtype policy of ``train.mixed_precision``."""

from __future__ import annotations

import contextlib

import keras

from kasc.config import ConfigError, DataConfig, FeatureConfig, ModelConfig, resolve_path
from kasc.data.features import frames_for
from kasc.files.runs import RunDir
from kasc.models import FIXED_INPUT_ARCHITECTURES, build_model
from kasc.models.pretrained import load_pretrained
from kasc.training.messages import TrainingError
from kasc.training.runtime import resolve_mixed_precision


def input_shape_for(features: FeatureConfig, data: DataConfig, architecture: str) -> tuple:
    """(frames, mels, 1) of a clip of ``data.clip_samples``: frames left free (None) unless the
    network needs a fixed size."""
    frames = frames_for(features, data.clip_samples)
    return (frames if architecture in FIXED_INPUT_ARCHITECTURES else None, features.n_mels, 1)


def build_network(model: ModelConfig, features: FeatureConfig, data: DataConfig, n_classes: int):
    """The network ``model.architecture`` names, with ``model.params`` passed to its builder,
    for log-mel inputs of ``features`` over clips of ``data``."""
    params = model.params or {}
    if not isinstance(params, dict):
        raise ConfigError(f"model.params must be a mapping of builder arguments, got {params!r}")
    try:
        return build_model(model.architecture, input_shape_for(features, data, model.architecture), n_classes, **params)
    except TypeError as err:
        raise ConfigError(f"model.params {params} do not fit '{model.architecture}': {err}") from err


def init_from(model, source: str) -> str:
    """Load the weights of an earlier run (folder or .keras file) or a pretrained EfficientAT
    ``.npz`` into ``model`` (``kasc.models.pretrained``). Returns a summary; a file with no
    matching layer is an error."""
    _, path = RunDir.locate(resolve_path(source))  # a run folder means its model.keras
    try:
        result = load_pretrained(model, path)
    except FileNotFoundError as err:
        raise ConfigError(f"train.init_from: {err}") from None
    except ValueError as err:
        raise TrainingError(f"train.init_from: {err}") from None
    skipped = result["skipped"]
    return (f"init_from {path}: {len(result['loaded'])} layers copied"
            + (f", {len(skipped)} kept fresh ({', '.join(skipped[:4])}{'...' if len(skipped) > 4 else ''})"
               if skipped else ""))


def batchnorm_frozen(setting: str, initialised: bool) -> bool:
    """Whether ``train.batchnorm`` (``auto``, ``trained``, ``frozen``) freezes batch
    normalisation: ``auto`` does when the network starts from other weights (``initialised``)."""
    return setting == "frozen" or (setting == "auto" and initialised)


def freeze_batchnorm(model) -> int:
    """Put every batch-normalisation layer of ``model`` (nested models included) in inference
    mode for good: ``trainable = False``, so that training uses and keeps its running
    statistics, scale and shift (Keras 3 normalises with the running statistics whenever the
    layer is not trainable). The other layers train as before. Returns how many were frozen."""
    frozen = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            layer.trainable = False
            frozen += 1
    return frozen


@contextlib.contextmanager
def dtype_policy(mixed_precision: str):
    """Build the student under ``train.mixed_precision`` (``none``: float32; ``auto``
    resolved for this CPU), then restore
    the previous global policy (teachers, export and evaluation are unaffected)."""
    previous = keras.mixed_precision.global_policy()
    policy = resolve_mixed_precision(mixed_precision)
    keras.mixed_precision.set_global_policy("float32" if policy == "none" else policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
