"""Writing and reading ``.keras`` models: a saved network that needs nothing of kasc's
loads with Keras alone, and kasc reads its own custom layers, with a clear error for a
missing or damaged file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

from kasc.models.layers import FusedBatchNormalization  # importing it registers kasc's layers with Keras


def portable(model: keras.Model) -> keras.Model:
    """``model`` as it should be written to a ``.keras`` file: every kasc
    ``FusedBatchNormalization`` (a speed-up, with the same weights, outputs and config as
    Keras' own layer) written as ``keras.layers.BatchNormalization``, so that a network
    made only of Keras layers otherwise (the SERFR-CNN students, MobileNetV2, the CNN
    teacher, mn04) loads with ``keras.models.load_model`` in a Python that never imported
    kasc. Networks with other kasc layers (BC-ResNet's) still need ``import kasc`` first.
    Returns ``model`` itself when there is nothing to change, else a copy with the same
    weights."""
    return with_batch_norm_class(model, FusedBatchNormalization, keras.layers.BatchNormalization)


def with_batch_norm_class(model: keras.Model, old: type, new: type) -> keras.Model:
    """A functional ``model`` with every layer of exactly class ``old`` rebuilt as ``new``
    from the same config and weights (``model`` itself when it has none, or is not a
    functional model)."""
    if type(model).__name__ != "Functional" or not any(type(layer) is old for layer in model.layers):
        return model

    def rebuilt(layer):
        return (new if type(layer) is old else type(layer)).from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=rebuilt)
    for source, target in zip(model.layers, copy.layers, strict=True):
        target.set_weights(source.get_weights())
    return copy


def load_model(path) -> keras.Model:
    """Load a ``.keras`` file with kasc's custom layers (registered by
    :mod:`kasc.models.layers`, imported here), without its training configuration, its
    batch normalisation computed by the fused kernel again (:func:`portable` undone).

    Raises:
      FileNotFoundError: there is no such file.
      ValueError: the file is there but is not a readable ``.keras`` archive (cut short,
        damaged or another format); the message says which.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a readable .keras model ({path.stat().st_size:,} bytes that are not a complete "
                         f"zip archive: cut short or damaged; train or copy it again)")
    try:
        model = keras.models.load_model(path, compile=False)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .keras model ({str(err).splitlines()[0][:200]})") from None
    return with_batch_norm_class(model, keras.layers.BatchNormalization, FusedBatchNormalization)
