"""The DCASE Task 1 output format: one row per file, tab-separated, with the columns
``filename``, ``scene_label`` (the predicted class) and one probability column per class
in sorted class order."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from kasc.files.atomic import atomic_path


def predictions_table(filenames: Sequence[str], probabilities: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """The output table; ``class_names`` gives the columns of ``probabilities`` (n, C)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(filenames), len(class_names)):
        raise ValueError(f"probabilities must be ({len(filenames)}, {len(class_names)}), got {probabilities.shape}")
    order = np.argsort(np.asarray(class_names, dtype=object))
    names = [class_names[i] for i in order]
    table = pd.DataFrame(probabilities[:, order], columns=names)
    table.insert(0, "scene_label", [class_names[i] for i in probabilities.argmax(axis=1)])
    table.insert(0, "filename", list(filenames))
    return table


def write_predictions(path: str | Path, filenames: Sequence[str], probabilities: np.ndarray,
                      class_names: Sequence[str]) -> Path:
    """Write the output CSV atomically; probabilities with 6 decimals."""
    with atomic_path(path) as tmp:
        predictions_table(filenames, probabilities, class_names).to_csv(tmp, sep="\t", index=False, float_format="%.6f")
    return Path(path)


def top1_agreement(predictions_file, reference_file) -> float:
    """Fraction of the files of ``reference_file`` whose predicted class (``scene_label``)
    in ``predictions_file`` is the same (two DCASE output CSVs of one split).

    Raises:
      ValueError: a file of the reference has no prediction.
    """
    ours = pd.read_csv(predictions_file, sep="\t").set_index("filename")["scene_label"]
    theirs = pd.read_csv(reference_file, sep="\t").set_index("filename")["scene_label"]
    missing = theirs.index.difference(ours.index)
    if len(missing):
        raise ValueError(f"{predictions_file} has no prediction for {len(missing)} file(s) of {reference_file} "
                         f"(e.g. {missing[0]}): not the same split")
    return float((ours.loc[theirs.index].to_numpy() == theirs.to_numpy()).mean())
