"""Reading a saved ``.keras`` model, kasc's custom layers included, with a clear error for
a missing or damaged file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

import kasc.models.layers  # noqa: F401 - registers kasc's layers with Keras before any file is read


def load_model(path) -> keras.Model:
    """Load a ``.keras`` file with kasc's custom layers (registered by
    :mod:`kasc.models.layers`, imported here), without its training configuration.

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
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .keras model ({str(err).splitlines()[0][:200]})") from None
