"""Weights from a local file into a kasc network: the one place weights are copied by name.

Two kinds of file:
- a kasc run folder or ``.keras`` file (an earlier run, transfer learning): weights are
  copied layer by layer where names and weight shapes agree, nested models (an ensemble's
  members, a backbone) included;
- an EfficientAT state dict saved as ``.npz`` (``../shared/data/pretrained``): PyTorch
  names and layouts, mapped onto :func:`kasc.models.efficientat.build_efficientat_mn`.

Nothing is downloaded: kasc never fetches weights at run time.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


def resolve_weights_file(path: str | Path) -> Path:
    """A run folder -> its ``model.keras``; a file -> itself.

    Raises:
      FileNotFoundError: nothing there.
    """
    from kasc.runs import RunDir

    _, path = RunDir.locate(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {path}")
    return path


def _flat_layers(model_or_layer) -> dict:
    """Every layer by name, nested models' layers included (the nested model itself too)."""
    out = {}
    for layer in getattr(model_or_layer, "layers", []):
        if getattr(layer, "layers", None):
            out.update(_flat_layers(layer))
        out[layer.name] = layer
    return out


def copy_matching_weights(model: keras.Model, source: keras.Model, skip_head: bool = False) -> dict:
    """Copy weights from ``source`` into ``model`` where layer names and weight shapes
    agree; ``skip_head`` keeps the ``logits`` layer fresh. Returns {"loaded", "skipped"}."""
    source_layers = _flat_layers(source)
    loaded, skipped = [], []
    for name, layer in _flat_layers(model).items():
        if not layer.weights or getattr(layer, "layers", None):
            continue
        other = source_layers.get(name)
        if ((skip_head and name == "logits") or other is None
                or [w.shape for w in other.weights] != [w.shape for w in layer.weights]):
            skipped.append(name)
            continue
        layer.set_weights([np.asarray(w) for w in other.get_weights()])
        loaded.append(name)
    return {"loaded": loaded, "skipped": skipped}


def load_pretrained(model: keras.Model, path: str | Path, skip_head: bool = False) -> dict:
    """Load the weights at ``path`` (run folder, ``.keras`` or EfficientAT ``.npz``) into
    ``model``. Layers without a counterpart of the same shape (a classifier for another
    class count) keep their initial weights and are listed under "skipped".

    Raises:
      FileNotFoundError: no such file or run folder.
      ValueError: no layer of the file fits the model (another architecture), or an
        ``.npz`` that is not an EfficientAT state dict of the model's width.
    """
    path = resolve_weights_file(path)
    if path.suffix == ".npz":
        from kasc.models.efficientat import load_efficientat_weights

        return load_efficientat_weights(model, path, skip_head=None if not skip_head else True)
    result = copy_matching_weights(model, keras.models.load_model(path, compile=False), skip_head)
    if not result["loaded"]:
        raise ValueError(f"{path}: no layer matches the model '{model.name}' by name and shape "
                         f"(different architecture?)")
    return result
