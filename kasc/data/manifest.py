"""A generic labelled CSV manifest, so that any labelled audio folder can be used.

The manifest has one row per file: an audio path (absolute, or relative to
``audio_dir``, itself relative to the manifest's folder), a label, and optionally a
device, a fold and a source recording. Tab or comma separation is detected from the header line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from kasc.data.table import DatasetError, make_table, read_csv, require_filled, require_unique


def read_manifest(
    manifest: str | Path,
    path_column: str = "filename",
    label_column: str = "label",
    device_column: str = "",
    fold_column: str = "",
    recording_column: str = "",
    folds: tuple[str, ...] = (),
    audio_dir: str = "",
    confine_paths: bool = False,
) -> pd.DataFrame:
    """Read a manifest into a clip table.

    Args:
      manifest: the CSV file.
      path_column / label_column: required columns.
      device_column / fold_column / recording_column: optional columns ("" = the
        manifest has none); the recording column names each clip's source recording.
      folds: keep rows whose fold (as a string) is one of these; () keeps all.
      audio_dir: folder of relative audio paths, relative to the manifest's folder; it
        may name columns of the row in braces (``audio/fold{fold}``).
      confine_paths: refuse audio paths that lead outside the manifest's folder (absolute
        paths elsewhere, ``../``, symbolic links out), once links are followed.

    Raises:
      DatasetError: a named column is missing, a label is empty, an audio file is listed
        twice in the folds read, folds were asked for without a fold column, a path is a
        symbolic link loop, or (``confine_paths``) a path leads outside the manifest's folder.
    """
    manifest = Path(manifest)
    required = [path_column, label_column] + [c for c in (device_column, fold_column, recording_column) if c]
    frame = read_csv(manifest, required, sep=None)
    if folds:
        if not fold_column:
            raise DatasetError(f"{manifest}: folds {list(folds)} requested but no fold column configured")
        present = frame[fold_column].str.strip()
        found = set(present)
        missing = [str(f) for f in folds if str(f) not in found]
        if missing and len(folds) > 1:  # one empty fold is reported by the caller, naming its split
            raise DatasetError(f"{manifest}: no row has {fold_column} {', '.join(missing)} (asked for folds "
                               f"{'+'.join(map(str, folds))}; present: {', '.join(sorted(found))})")
        frame = frame[present.isin([str(f) for f in folds])]
    require_filled(frame, label_column, manifest, path_column)
    data_folder = os.path.realpath(manifest.parent)

    def audio_path(line: int, row: dict) -> str:
        path = Path(row[path_column])
        if not path.is_absolute():
            try:
                folder = audio_dir.format(**row)
            except (KeyError, IndexError, ValueError) as err:
                raise DatasetError(f"{manifest}: audio_dir '{audio_dir}' names an unknown column ({err})") from None
            path = manifest.parent / folder / path
        try:
            resolved = path.resolve()
            real = os.path.realpath(path, strict=False) if confine_paths else ""
        except (RuntimeError, OSError) as err:  # a symbolic link that leads back to itself
            raise DatasetError(f"{manifest}: line {line}: audio path {row[path_column]!r} cannot be followed "
                               f"({err}): a symbolic link loop?") from None
        if confine_paths and os.path.commonpath([real, data_folder]) != data_folder:
            raise DatasetError(f"{manifest}: line {line}: audio path {row[path_column]!r} leads to {real}, outside "
                               f"the manifest's folder {data_folder} (data.confine_paths is true)")
        return str(path if Path(row[path_column]).is_absolute() else resolved)

    paths = [(audio_path(index + 2, row),) for index, row in zip(frame.index, frame.to_dict("records"))]
    require_unique(frame.assign(_audio_file=[p for p, in paths]), "_audio_file", manifest, what="audio file(s)")
    table = pd.DataFrame({
        "filename": frame[path_column].to_numpy(),
        "paths": paths,
        "label": frame[label_column].to_numpy(),
        "device": frame[device_column].to_numpy() if device_column else "",
        "recording": frame[recording_column].astype(str).str.strip().to_numpy() if recording_column else "",
    })
    return make_table(table)
