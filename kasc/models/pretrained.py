"""Weights from a local file into a kasc network: the one place weights are copied by name.

Two kinds of file:
- a ``.keras`` file (an earlier run, transfer learning): weights are
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

from kasc.models.efficientat import load_efficientat_weights
from kasc.models.saved import load_model


def _flat_layers(model_or_layer, prefix: str = "") -> dict:
    """Every weight-holding layer by its path below the model (``member/stem_conv`` for a
    layer of a nested model named ``member``; top-level layers by their name)."""
    out = {}
    for layer in getattr(model_or_layer, "layers", []):
        if getattr(layer, "layers", None):
            out.update(_flat_layers(layer, f"{prefix}{layer.name}/"))
        elif layer.weights:
            out[f"{prefix}{layer.name}"] = layer
    return out


def copy_matching_weights(model: keras.Model, source: keras.Model, skip_head: bool = False) -> dict:
    """Copy weights from ``source`` into ``model`` layer by layer, nested models included,
    where the weight shapes agree; ``skip_head`` keeps every ``logits`` layer fresh.

    A layer is matched by its path (``member/stem_conv``), else by its bare name when that
    name occurs once in ``source`` (a backbone nested in one model and top-level in the
    other). Returns {"loaded": paths copied, "skipped": paths kept fresh}.
    """
    source_layers = _flat_layers(source)
    by_name: dict[str, list] = {}
    for path, layer in source_layers.items():
        by_name.setdefault(path.rsplit("/", 1)[-1], []).append(layer)
    loaded, skipped = [], []
    for path, layer in _flat_layers(model).items():
        name = path.rsplit("/", 1)[-1]
        other = source_layers.get(path)
        if other is None and len(by_name.get(name, [])) == 1:
            other = by_name[name][0]
        if ((skip_head and name == "logits") or other is None
                or [w.shape for w in other.weights] != [w.shape for w in layer.weights]):
            skipped.append(path)
            continue
        layer.set_weights([np.asarray(w) for w in other.get_weights()])
        loaded.append(path)
    return {"loaded": loaded, "skipped": skipped}


def load_pretrained(model: keras.Model, path: str | Path, skip_head: bool = False) -> dict:
    """Load the weights in the file ``path`` (``.keras``, or EfficientAT ``.npz``) into
    ``model`` (a run folder resolves to its file with ``kasc.files.runs.RunDir.locate``). Layers without a counterpart of the same shape (a classifier for another
    class count) keep their initial weights and are listed under "skipped".

    Raises:
      FileNotFoundError: no such file.
      ValueError: no layer of the file fits the model (another architecture), or an
        ``.npz`` that is not an EfficientAT state dict of the model's width.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {path}")
    if path.suffix == ".npz":
        return load_efficientat_weights(model, path, skip_head=None if not skip_head else True)

    result = copy_matching_weights(model, load_model(path), skip_head)
    if not result["loaded"]:
        raise ValueError(f"{path}: no layer matches the model '{model.name}' by name and shape "
                         f"(different architecture?)")
    return result
