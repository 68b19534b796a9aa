"""From a :class:`~kasc.config.DataConfig` to the clip tables of its splits."""

from __future__ import annotations

import dataclasses

import pandas as pd

from kasc.config import DataConfig, resolve_path
from kasc.config.dataset_formats import FORMATS, dataset_format
from kasc.data.manifest import read_manifest
from kasc.data.parts import without_part
from kasc.data.table import DatasetError, limit_per_split
from kasc.data.tau import read_dcase24_subset, read_tau, rebuild_recordings


def load_split(cfg: DataConfig, which: str) -> pd.DataFrame:
    """Clip table of the ``train`` or ``valid`` split described by ``cfg``.

    TAU22 training tables are narrowed by ``subset_csv`` (DCASE 2024 splits) and lose
    their ``held_out_part`` (cross-fitting, ``kasc.data.parts``) before 10 s recordings
    are rebuilt (``rebuild_10s``); ``max_clips_per_split`` applies last.
    """
    if which not in ("train", "valid"):
        raise ValueError(f"split must be 'train' or 'valid', got {which!r}")
    fmt = dataset_format(cfg.format)
    fmt.check(cfg, format_error)
    fmt.check_on_disk(cfg, format_error)
    split = cfg.train_split if which == "train" else cfg.valid_split
    parts = split_parts(split, f"data.{which}_split")
    table = READERS[fmt.name](cfg, parts)
    if which == "train" and cfg.subset_csv:
        table = read_dcase24_subset(table, resolve_path(cfg.subset_csv))
    if which == "train" and cfg.held_out_part:
        table = without_part(table, cfg.train_parts, cfg.held_out_part)
    if cfg.rebuild_10s:
        table = rebuild_recordings(table)
    if len(table) == 0:
        raise DatasetError(f"the {which} split '{split}' of {cfg.manifest or resolve_path(cfg.root)} has no clips")
    return limit_per_split(table, cfg.max_clips_per_split)


def format_error(key: str, value, expected: str):
    """``fail`` for :meth:`DatasetFormat.check` when a table is read: a :class:`DatasetError`."""
    raise DatasetError(f"{key} must be {expected}, got {value!r}")


def read_manifest_split(cfg: DataConfig, parts: tuple[str, ...]) -> pd.DataFrame:
    """The ``csv`` format: the manifest's rows in the folds ``parts`` (all rows if empty)."""
    return read_manifest(resolve_path(cfg.manifest), cfg.path_column, cfg.label_column, cfg.device_column,
                         cfg.fold_column, cfg.recording_column, folds=parts, audio_dir=cfg.audio_dir,
                         confine_paths=cfg.confine_paths)


def read_tau_split(cfg: DataConfig, parts: tuple[str, ...]) -> pd.DataFrame:
    """The ``tau22`` and ``tau20`` formats: the union of the splits ``parts`` (every row of
    ``meta.csv`` if empty)."""
    root = resolve_path(cfg.root)
    tables = [read_tau(root, part, layout=cfg.format) for part in parts or ("",)]
    return tables[0] if len(tables) == 1 else union(tables)


READERS = {"tau22": read_tau_split, "tau20": read_tau_split, "csv": read_manifest_split}
"""One clip-table reader per dataset format (:data:`kasc.config.dataset_formats.FORMATS`)."""
assert set(READERS) == set(FORMATS), "every dataset format needs a reader"


def split_parts(split: str, field: str) -> tuple[str, ...]:
    """The split names of ``split``: ``"1+2"`` -> ``("1", "2")``, ``""`` -> ``()``.

    Raises:
      DatasetError: an empty or repeated name (``"1+"``, ``"1+1"``), naming ``field``.
    """
    if not split:
        return ()
    parts = tuple(part.strip() for part in split.split("+"))
    if "" in parts or len(set(parts)) != len(parts):
        raise DatasetError(f"{field}: '{split}' is not a split name or a union of distinct split names "
                           f"joined by '+' (e.g. '1+2')")
    return parts


def union(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``tables`` in order, each audio file once (splits may share files)."""
    table = pd.concat(tables, ignore_index=True)
    return table[~table["paths"].map(tuple).duplicated()].reset_index(drop=True)


def full_training_table(data_cfg) -> pd.DataFrame:
    """The training split the parts are computed on: as listed, every clip, 1 s segments
    not rebuilt, no part held out (``data_cfg``: a :class:`~kasc.config.DataConfig`)."""
    whole = dataclasses.replace(data_cfg, max_clips_per_split=0, rebuild_10s=False, train_parts=0, held_out_part=0)
    return load_split(whole, "train")
