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

import unicodedata
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
    frame = frame.apply(lambda column: column.str.strip())  # 'airport ' is 'airport' in every reader
    for column in required:
        if column not in frame.columns:
            raise DatasetError(
                f"{path}: missing column '{column}' (columns found: {', '.join(frame.columns) or 'none'}"
                f"{'; is the file tab-separated?' if len(frame.columns) == 1 else ''})"
            )
    return frame


def csv_line(row_index) -> int:
    """The line number in its file of a row read by :func:`read_csv` (the header is line 1)."""
    return int(row_index) + 2


def _first_rows(frame: pd.DataFrame, mask, column: str, limit: int = 3) -> str:
    rows = frame[mask]
    listed = "; ".join(f"line {csv_line(i)}: {value!r}" for i, value in rows[column].head(limit).items())
    return listed + (f"; ... ({int(mask.sum())} in all)" if int(mask.sum()) > limit else "")


def require_unique(frame: pd.DataFrame, column: str, path: Path, what: str = "") -> None:
    """Every value of ``column`` (read from ``path``) appears once.

    Args:
      what: how to call the values in the message (default: "value(s) of column '<column>'").

    Raises:
      DatasetError: naming the file and the lines of the first repeated values.
    """
    repeated = frame[column].duplicated(keep=False)
    if repeated.any():
        what = what or f"value(s) of column '{column}'"
        raise DatasetError(f"{path}: {int(frame[column][repeated].nunique())} {what} listed more than once "
                           f"({_first_rows(frame, repeated, column)})")


def require_filled(frame: pd.DataFrame, column: str, path: Path, name_column: str) -> None:
    """No value of ``column`` is empty (after stripping).

    Raises:
      DatasetError: naming the file, the column, and the line and file name of the first empty ones.
    """
    empty = frame[column] == ""
    if empty.any():
        raise DatasetError(f"{path}: column '{column}' is empty for {int(empty.sum())} row(s) "
                           f"({_first_rows(frame, empty, name_column)})")


def shared_files(first: pd.DataFrame, second: pd.DataFrame) -> set[str]:
    """The audio files (``paths``) that are in both tables."""
    return {p for paths in first["paths"] for p in paths} & {p for paths in second["paths"] for p in paths}


def clips_heard(table: pd.DataFrame, heard: pd.DataFrame) -> int:
    """How many clips of ``table`` share an audio file with ``heard`` (e.g. validation
    clips that were trained on)."""
    files = shared_files(table, heard)
    return int(sum(any(p in files for p in paths) for paths in table["paths"]))


def require_disjoint(first: pd.DataFrame, second: pd.DataFrame, names: tuple[str, str], source: str) -> None:
    """No audio file is in both tables (their ``paths``).

    Raises:
      DatasetError: naming the first shared files, the splits and ``source``.
    """
    shared = shared_files(first, second)
    if shared:
        listed = ", ".join(sorted(shared)[:3]) + (" ..." if len(shared) > 3 else "")
        raise DatasetError(f"{source}: {len(shared)} audio file(s) are in both the {names[0]} and the {names[1]} "
                           f"split ({listed}); validation on training clips is not validation. Fix the split, "
                           f"or set data.allow_overlap: true to accept it")


def make_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Keep the table columns in their canonical order, index 0..n-1."""
    for column in ("device", "recording"):
        if column not in rows.columns:
            rows = rows.assign(**{column: ""})
    return rows.loc[:, list(TABLE_COLUMNS)].reset_index(drop=True)


def class_names(*tables: pd.DataFrame) -> list[str]:
    """Sorted class names found in the given tables (the model's output order).

    Raises:
      DatasetError: two labels differ only in case, surrounding space or Unicode normal
        form (:func:`require_distinct_spellings`).
    """
    require_distinct_spellings(*tables)
    labels: set[str] = set()
    for table in tables:
        labels.update(label for label in table["label"] if label)
    return sorted(labels)


def label_key(label: str) -> str:
    """What two spellings of one class share: compatibility normal form (NFKC: full-width
    ``ｓ`` is ``s``, composed and decomposed accents are one), no invisible characters (format
    characters such as the zero-width space U+200B, joiners, the byte-order mark, soft
    hyphens), no surrounding space, case folded."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", label) if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", visible.strip().casefold())


def require_distinct_spellings(*tables: pd.DataFrame) -> None:
    """Labels that differ only in case, width, invisible characters, surrounding space or
    Unicode normal form (``Airport`` / ``airport``, ``café`` composed / decomposed, ``siren`` /
    ``siren`` + zero-width space, full-width ``ｓiren``) would become separate classes: an
    error naming both spellings (escaped, so that invisible characters show) and a file of each."""
    first_file: dict[str, str] = {}
    for table in tables:
        files = table["filename"] if "filename" in table.columns else table.index.astype(str)
        for label, name in zip(table["label"], files):
            if label and label not in first_file:
                first_file[label] = str(name)
    by_key: dict[str, str] = {}
    for label in first_file:
        other = by_key.setdefault(label_key(label), label)
        if other != label:
            raise DatasetError(f"labels {ascii(other)} (e.g. {first_file[other]}) and {ascii(label)} (e.g. "
                               f"{first_file[label]}) differ only in case, width, invisible characters, surrounding "
                               f"space or Unicode normal form; they would be two classes. Spell each class one way in "
                               f"the dataset's labels")


def limit_per_split(table: pd.DataFrame, max_clips: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_clips`` rows, drawn with every class kept as far as possible
    (round-robin over classes in a seeded order); ``max_clips`` 0 keeps all."""
    if max_clips <= 0 or len(table) <= max_clips:
        return table
    shuffled = table.sample(frac=1.0, random_state=seed)
    rank = shuffled.groupby("label", sort=True).cumcount()
    picked = shuffled.assign(_rank=rank).sort_values(["_rank", "label"], kind="stable").head(max_clips)
    return picked.drop(columns="_rank").sort_index().reset_index(drop=True)


def summarize(table: pd.DataFrame, clip_seconds: float, audio_hours: float | None = None) -> dict:
    """Statistics of a table: clips per class and per device, hours of windows of
    ``clip_seconds`` (what training sees: padding included, audio past the window
    excluded) and, if given, hours of audio in the files (``kasc.data.survey``)."""
    return {
        "clips": int(len(table)),
        "hours": float(len(table) * clip_seconds / 3600.0),
        "audio_hours": audio_hours,
        "per_class": {k: int(v) for k, v in table["label"].value_counts().sort_index().items()},
        "per_device": {k or "-": int(v) for k, v in table["device"].value_counts().sort_index().items()},
    }
