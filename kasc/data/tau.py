"""Readers for the TAU Urban Acoustic Scenes Mobile development sets, exactly as published.

TAU22 (2022 Mobile, 1 s segments)::

    meta.csv                         filename  scene_label  identifier  source_label
    evaluation_setup/fold1_train.csv filename  scene_label
    evaluation_setup/fold1_evaluate.csv  (same columns)
    evaluation_setup/fold1_test.csv  filename
    audio/<scene>-<city>-<location>-<segment>-<index>-<device>.wav   (44.1 kHz, 24 bit)

TAU20 (2020 Mobile, 10 s clips): the same files, audio named
``<scene>-<city>-<location>-<segment>-<device>.wav``.

DCASE 2024 data-efficient splits: ``split5.csv`` ... ``split100.csv`` (tab-separated,
with a ``filename`` column) select subsets of the TAU22 training split.

All files are tab-separated. Every reader returns a clip table (see ``table.py``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kasc.data.table import DatasetError, csv_line, make_table, read_csv, require_filled, require_unique

SCENE_CLASSES = (
    "airport", "bus", "metro", "metro_station", "park",
    "public_square", "shopping_mall", "street_pedestrian", "street_traffic", "tram",
)
TAU22_SEEN_DEVICES = ("a", "b", "c", "s1", "s2", "s3")
TAU22_UNSEEN_DEVICES = ("s4", "s5", "s6")


def parse_tau_name(filename: str, layout: str) -> dict:
    """Split a TAU file name into its fields.

    ``tau22``: ``audio/<scene>-<city>-<location>-<segment>-<index>-<device>.wav``;
    ``tau20``: ``audio/<scene>-<city>-<location>-<segment>-<device>.wav``.

    Returns:
      dict with scene, city, location, segment, device, index (-1 for tau20) and
      recording (the name without the segment index and extension).

    Raises:
      DatasetError: the name does not have the expected number of fields.
    """
    stem = Path(filename).stem
    parts = stem.split("-")
    expected = 6 if layout == "tau22" else 5
    if len(parts) != expected:
        pattern = ("<scene>-<city>-<location>-<segment>-<index>-<device>.wav" if layout == "tau22"
                   else "<scene>-<city>-<location>-<segment>-<device>.wav")
        raise DatasetError(f"file name '{filename}' does not match the {layout} pattern {pattern}")
    if layout == "tau22":
        scene, city, location, segment, index, device = parts
        try:
            index_value = int(index)
        except ValueError:
            raise DatasetError(f"file name '{filename}': segment index '{index}' is not an integer") from None
    else:
        scene, city, location, segment, device = parts
        index_value = -1
    return {
        "scene": scene, "city": city, "location": location, "segment": segment,
        "index": index_value, "device": device,
        "recording": "-".join([scene, city, location, segment, device]),
    }


def _split_file(root: Path, split: str) -> Path:
    return root / "evaluation_setup" / f"{split}.csv"


def read_tau(root: str | Path, split: str = "fold1_train", layout: str = "tau22") -> pd.DataFrame:
    """Read one split of a TAU22 or TAU20 development set.

    Args:
      root: dataset folder (holding ``meta.csv``, ``evaluation_setup/``, ``audio/``).
      split: ``fold1_train``, ``fold1_evaluate``, ``fold1_test`` (labels taken from
        ``meta.csv``), or ``all`` (every row of ``meta.csv``).
      layout: ``tau22`` or ``tau20`` (file naming, see module docstring).

    Returns:
      clip table; the device comes from ``meta.csv``'s ``source_label``.
    """
    root = Path(root)
    if layout not in ("tau22", "tau20"):
        raise DatasetError(f"unknown TAU layout '{layout}' (expected tau22 or tau20)")
    meta_path = root / "meta.csv"
    meta = read_csv(meta_path, ["filename", "scene_label", "identifier", "source_label"])
    require_unique(meta, "filename", meta_path)
    require_filled(meta, "scene_label", meta_path, "filename")
    if split == "all":
        rows = meta
    else:
        split_path = _split_file(root, split)
        rows = read_csv(split_path, ["filename"])
        require_unique(rows, "filename", split_path)
        if "scene_label" in rows.columns:
            require_filled(rows, "scene_label", split_path, "filename")
        unknown = ~rows["filename"].isin(meta["filename"])
        if unknown.any():
            raise DatasetError(
                f"{split_path}: {int(unknown.sum())} file(s) not listed in {meta_path} "
                f"(first: {rows.loc[unknown, 'filename'].iloc[0]})"
            )
        meta_cols = ["filename", "identifier", "source_label"]
        if "scene_label" not in rows.columns:
            meta_cols.append("scene_label")
        rows = rows.merge(meta[meta_cols], on="filename", how="left", validate="one_to_one")
        meta_rows = meta.reset_index().set_index("filename").loc[rows["filename"]]
        mismatch = rows["scene_label"].to_numpy() != meta_rows["scene_label"].to_numpy()
        if mismatch.any():
            first = [f"line {csv_line(i)}: {name} is {label!r} here, {meta_label!r} on line {csv_line(j)} of meta.csv"
                     for i, name, label, meta_label, j in zip(
                         rows.index[mismatch], rows["filename"][mismatch], rows["scene_label"][mismatch],
                         meta_rows["scene_label"].to_numpy()[mismatch], meta_rows["index"].to_numpy()[mismatch])][:3]
            raise DatasetError(f"{split_path}: scene_label disagrees with {meta_path} for {int(mismatch.sum())} "
                               f"file(s) ({'; '.join(first)})")
    for name in rows["filename"]:
        parse_tau_name(name, layout)  # raises on a malformed name
    table = pd.DataFrame({
        "filename": rows["filename"].to_numpy(),
        "paths": [(str((root / name).resolve()),) for name in rows["filename"]],
        "label": rows["scene_label"].to_numpy(),
        "device": rows["source_label"].to_numpy(),
        "recording": [parse_tau_name(n, layout)["recording"] for n in rows["filename"]],
    })
    return make_table(table)


def read_dcase24_subset(table: pd.DataFrame, split_csv: str | Path) -> pd.DataFrame:
    """Keep the rows of a TAU22 training table listed in a DCASE 2024 split file.

    Raises:
      DatasetError: the split file lacks a ``filename`` column, or names files that are
        not in the training table (it belongs to another fold or dataset).
    """
    split_csv = Path(split_csv)
    subset = read_csv(split_csv, ["filename"])
    require_unique(subset, "filename", split_csv)
    outside = ~subset["filename"].isin(table["filename"])
    if outside.any():
        raise DatasetError(
            f"{split_csv}: {int(outside.sum())} of {len(subset)} file(s) are not in the training split "
            f"(first: {subset.loc[outside, 'filename'].iloc[0]})"
        )
    keep = table["filename"].isin(set(subset["filename"]))
    return make_table(table[keep])


def rebuild_recordings(table: pd.DataFrame) -> pd.DataFrame:
    """Rebuild the 10 s recordings from TAU22's 1 s segments.

    Segments are grouped by everything in their name but the index and ordered by
    index; a recording's ``paths`` lists its segment files in that order. The report
    trains its teachers on such recordings. Groups keep the label and device of their
    segments (an inconsistent label inside a group is an error).

    Returns:
      clip table with one row per recording; ``filename`` is ``audio/<recording>.wav``
      (the name the recording would have in TAU20's layout).
    """
    rows = []
    parsed = pd.DataFrame([parse_tau_name(n, "tau22") for n in table["filename"]])
    frame = table.assign(_index=parsed["index"].to_numpy(), recording=parsed["recording"].to_numpy())
    for recording, group in frame.groupby("recording", sort=True):
        group = group.sort_values("_index")
        labels = group["label"].unique()
        if len(labels) != 1:
            raise DatasetError(f"recording '{recording}' has segments with different labels: {list(labels)}")
        if group["_index"].duplicated().any():
            raise DatasetError(f"recording '{recording}' lists a segment index twice")
        rows.append({
            "filename": f"audio/{recording}.wav",
            "paths": tuple(p for paths in group["paths"] for p in paths),
            "label": labels[0],
            "device": group["device"].iloc[0],
            "recording": recording,
        })
    return make_table(pd.DataFrame(rows, columns=["filename", "paths", "label", "device", "recording"]))
