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
