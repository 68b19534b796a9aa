"""Parts of a training split for cross-fitting: clips grouped by source recording.

Cross-fitted soft targets (``distill.cross_fit_parts``) need each training clip labelled
by a teacher that never heard it nor any other clip of its recording. The training split
is cut into ``parts`` parts; teacher ``k`` trains without part ``k``
(``data.held_out_part``) and labels the clips of part ``k``.

A group is a clip's ``recording`` (TAU's recording id, UrbanSound8K's ``fsID`` through
``data.recording_column``), or its file name where the dataset names no recording. Groups
go to parts by scikit-learn's ``StratifiedGroupKFold`` (no shuffling: the same table
always gives the same parts), which keeps every group whole and the class proportions of
the parts as close as the groups allow.

The parts are computed on the whole training split as listed (after ``subset_csv``,
before 10 s recordings are rebuilt and before ``max_clips_per_split``), so a teacher on
rebuilt 10 s recordings and a student on their 1 s segments, or a fast-profile run on a
few clips, see the same parts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from kasc.data.table import DatasetError


def clip_groups(table: pd.DataFrame) -> np.ndarray:
    """Each clip's group (n_clips,): its recording, or its file name where that is empty."""
    recordings = table["recording"].astype(str).to_numpy()
    filenames = table["filename"].astype(str).to_numpy()
    return np.where(recordings != "", recordings, filenames)


def group_parts(table: pd.DataFrame, parts: int) -> dict[str, int]:
    """Part (1..``parts``) of every group of ``table``.

    Raises:
      DatasetError: the table has fewer groups than parts.
    """
    # scikit-learn (a second to import) only when this runs
    from sklearn.model_selection import StratifiedGroupKFold

    groups = clip_groups(table)
    n_groups = len(set(groups))
    if n_groups < parts:
        raise DatasetError(f"the training split has {n_groups} recording(s), fewer than the {parts} parts asked for "
                           f"(distill.cross_fit_parts / data.train_parts)")
    splitter = StratifiedGroupKFold(n_splits=parts, shuffle=False)
    out: dict[str, int] = {}
    with warnings.catch_warnings():
        # a class with fewer clips than parts is missing from some parts: expected, not an error
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for part, (_, held_out) in enumerate(splitter.split(np.zeros(len(table)), table["label"].to_numpy(), groups),
                                             start=1):
            out.update({group: part for group in groups[held_out]})
    return out


def clip_parts(table: pd.DataFrame, parts: int, whole: pd.DataFrame | None = None) -> np.ndarray:
    """Part (1..``parts``) of each clip of ``table`` (n_clips,), int64, with the parts of
    ``whole`` (default: ``table`` itself), the split the parts are defined on.

    Raises:
      DatasetError: a clip's group is not in ``whole``.
    """
    by_group = group_parts(table if whole is None else whole, parts)
    groups = clip_groups(table)
    missing = sorted(set(groups) - set(by_group))
    if missing:
        raise DatasetError(f"clips of recording(s) {missing[:3]} are not in the training split the parts are taken from")
    return np.array([by_group[g] for g in groups], dtype=np.int64)


def without_part(table: pd.DataFrame, parts: int, part: int) -> pd.DataFrame:
    """``table`` without the clips of part ``part`` of ``parts`` (its index renumbered)."""
    keep = clip_parts(table, parts) != part
    return table[keep].reset_index(drop=True)
