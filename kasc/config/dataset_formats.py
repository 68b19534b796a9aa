"""The dataset formats ``data.format`` names, each with its own rules in one place.

A :class:`DatasetFormat` says how its clips are listed (a manifest file, or a dataset
folder in a TAU layout), what it can do (rebuild 10 s recordings, name recordings in a
column) and so which ``data`` settings it accepts. :mod:`kasc.config.validate` asks the
format for its rules when a config is loaded, :mod:`kasc.data.preflight` asks it what must
exist on disk, and :mod:`kasc.data.datasets` asks it again before reading (a ``DataConfig``
built in Python skips the loader), so each rule is written once, here. The readers
themselves are in :mod:`kasc.data.datasets` (``READERS``, one per format).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from kasc.config.schema import DATA_FORMATS, ConfigError
from kasc.config.syntax import resolve_path

Fail = Callable[[str, object, str], None]
"""``fail(key, value, expected)``: raises the caller's error (``Checker.fail``)."""


@dataclass(frozen=True)
class DatasetFormat:
    """One value of ``data.format`` and the settings it accepts.

    Attributes:
      name: the ``data.format`` value.
      description: one line for messages and ``--help``.
      listed_by: ``"manifest"`` (``data.manifest``, a CSV file) or ``"root"`` (``data.root``,
        a folder with ``meta.csv`` and ``evaluation_setup/``).
      rebuilds_10s: ``data.rebuild_10s`` is allowed (TAU22's 1 s segments name their
        recording and position).
      recording_column: ``data.recording_column`` is allowed (TAU layouts name the recording
        in the file name instead).
    """

    name: str
    description: str
    listed_by: str
    rebuilds_10s: bool = False
    recording_column: bool = False

    def check(self, data, fail: Fail) -> None:
        """This format's rules for a ``DataConfig`` (no file system access)."""
        if self.listed_by == "manifest" and not data.manifest:
            fail("data.manifest", data.manifest, f"a manifest file for data.format '{self.name}'")
        if data.rebuild_10s and not self.rebuilds_10s:
            fail("data.rebuild_10s", data.rebuild_10s,
                 f"false unless data.format is 'tau22' (only TAU22 segments can be rebuilt; it is '{self.name}')")
        if data.recording_column and not self.recording_column:
            fail("data.recording_column", data.recording_column,
                 f"empty unless data.format is 'csv' (TAU layouts name the recording in the file name; data.format "
                 f"is '{self.name}')")

    def check_on_disk(self, data, fail: Fail) -> None:
        """What this format needs on disk: the manifest file or the dataset folder."""
        if self.listed_by == "manifest":
            manifest = resolve_path(data.manifest)
            if not manifest.is_file():
                fail("data.manifest", data.manifest, f"an existing file ({manifest} is missing)")
        else:
            root = resolve_path(data.root)
            if not root.is_dir():
                fail("data.root", data.root, f"an existing dataset folder ({root} is missing)")


FORMATS = {
    "tau22": DatasetFormat("tau22", "TAU Urban Acoustic Scenes 2022 Mobile layout (1 s segments)", "root",
                           rebuilds_10s=True),
    "tau20": DatasetFormat("tau20", "TAU Urban Acoustic Scenes 2020 Mobile layout (10 s clips)", "root"),
    "csv": DatasetFormat("csv", "a labelled CSV manifest (path, label, optional device, fold, recording columns)",
                         "manifest", recording_column=True),
}
assert tuple(FORMATS) == DATA_FORMATS, "DATA_FORMATS (the schema's list) and FORMATS must name the same formats"


def dataset_format(name: str) -> DatasetFormat:
    """The format called ``name``.

    Raises:
      ConfigError: no such format; the message lists the known ones.
    """
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"data.format must be one of {', '.join(FORMATS)}, got {name!r}") from None
