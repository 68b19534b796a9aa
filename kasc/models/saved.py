"""Writing and reading ``.keras`` models: a saved network that needs nothing of kasc's
loads with Keras alone, and kasc reads its own custom layers, with a clear error for a
missing or damaged file."""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

import keras

from kasc.models.layers import FusedBatchNormalization  # importing it registers kasc's layers with Keras


def save_model(model: keras.Model, path) -> None:
    """Write ``model`` to the ``.keras`` file ``path`` with every kasc
    ``FusedBatchNormalization`` (a speed-up with the same weights, outputs, config and
    variables as Keras' own layer, of which it is a subclass that adds no state) written as
    ``keras.layers.BatchNormalization``. So a network made only of Keras layers otherwise
    (the SERFR-CNN students, MobileNetV2, the CNN teacher, mn04) loads with
    ``keras.models.load_model`` in a Python that never imported kasc, and kasc's
    :func:`load_model` gives it the fused layer back. Networks with other kasc layers
    (BC-ResNet's) still need ``import kasc`` first.

    Keras names a layer in the file by its class (``config.json`` and the weights file's
    paths), so the layers are shown to Keras as their parent class while it writes: their
    ``__class__`` is switched and switched back (no copy of the network, no time)."""
    with classes_switched(model, FusedBatchNormalization, keras.layers.BatchNormalization):
        model.save(path)


@contextlib.contextmanager
def classes_switched(model: keras.Model, old: type, new: type):
    """Within the block, every layer of ``model`` (nested models included) of exactly class
    ``old`` is of class ``new``; ``old`` and ``new`` must be a class and a subclass (or the
    reverse) that adds no state."""
    switched = switch_classes(model, old, new)
    try:
        yield model
    finally:
        for layer in switched:
            layer.__class__ = old


def switch_classes(model: keras.Model, old: type, new: type) -> list:
    """Make every layer of ``model`` (nested models included) of exactly class ``old`` one
    of class ``new``; return those layers."""
    assert issubclass(old, new) or issubclass(new, old), (old, new)
    switched = []
    for layer in model.layers:
        if type(layer) is old:
            layer.__class__ = new
            switched.append(layer)
        elif isinstance(layer, keras.Model):
            switched += switch_classes(layer, old, new)
    return switched


def load_model(path) -> keras.Model:
    """Load a ``.keras`` file with kasc's custom layers (registered by
    :mod:`kasc.models.layers`, imported here), without its training configuration, its
    batch normalisation computed by the fused kernel again (as :func:`save_model` wrote it).

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
    switch_classes(model, keras.layers.BatchNormalization, FusedBatchNormalization)
    return model
