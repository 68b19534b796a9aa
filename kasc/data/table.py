"""The clip table every reader returns, and CSV reading with clear errors.

A clip table is a pandas DataFrame with one row per clip and the columns

- ``filename``: the clip's identifier as the dataset names it (``audio/bus-...-a.wav``);
- ``paths``: tuple of absolute file paths whose audio, concatenated in order, is the
  clip (one path, or the ten 1 s segments of a rebuilt 10 s recording);
- ``label``: class name (string);
- ``device``: recording device (``a``, ``s4``...), ``""`` where the dataset has none;
- ``recording``: identifier of the source recording (for grouping), ``""`` if unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

TABLE_COLUMNS = ("filename", "paths", "label", "device", "recording")


class DatasetError(ValueError):
    """A dataset file is missing or malformed. The message names the file and field."""


def read_csv(path: Path, required: Iterable[str], sep: str | None = "\t") -> pd.DataFrame:
    """Read a CSV (tab-separated by default; ``sep=None`` sniffs tab or comma).

    Raises:
      DatasetError: the file is missing or unreadable, or a required column is absent
        (the message names the column and the file, and lists the columns found).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    if sep is None:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline()
        sep = "\t" if "\t" in header else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot parse as {'tab' if sep == chr(9) else repr(sep)}-separated CSV: {err}") from err
    frame.columns = [c.strip() for c in frame.columns]
    for column in required:
        if column not in frame.columns:
            raise DatasetError(
                f"{path}: missing column '{column}' (columns found: {', '.join(frame.columns) or 'none'}"
                f"{'; is the file tab-separated?' if len(frame.columns) == 1 else ''})"
            )
    return frame


def make_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Keep the table columns in their canonical order, index 0..n-1."""
    for column in ("device", "recording"):
        if column not in rows.columns:
            rows = rows.assign(**{column: ""})
    return rows.loc[:, list(TABLE_COLUMNS)].reset_index(drop=True)


def class_names(*tables: pd.DataFrame) -> list[str]:
    """Sorted class names found in the given tables (the model's output order)."""
    labels: set[str] = set()
    for table in tables:
        labels.update(label for label in table["label"] if label)
    return sorted(labels)


def limit_per_split(table: pd.DataFrame, max_clips: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_clips`` rows, drawn with every class kept as far as possible
    (round-robin over classes in a seeded order); ``max_clips`` 0 keeps all."""
    if max_clips <= 0 or len(table) <= max_clips:
        return table
    shuffled = table.sample(frac=1.0, random_state=seed)
    rank = shuffled.groupby("label", sort=True).cumcount()
    picked = shuffled.assign(_rank=rank).sort_values(["_rank", "label"], kind="stable").head(max_clips)
    return picked.drop(columns="_rank").sort_index().reset_index(drop=True)


def summarize(table: pd.DataFrame, clip_seconds: float) -> dict:
    """Statistics of a table: clips per class and per device, total hours."""
    return {
        "clips": int(len(table)),
        "hours": float(len(table) * clip_seconds / 3600.0),
        "per_class": {k: int(v) for k, v in table["label"].value_counts().sort_index().items()},
        "per_device": {k or "-": int(v) for k, v in table["device"].value_counts().sort_index().items()},
    }
