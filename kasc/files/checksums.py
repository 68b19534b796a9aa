"""Content checksums of files kasc wrote and reads again: audio-cache entries and exported
models. A header can be intact while the content is not (bytes overwritten inside a weight
buffer, samples changed in a cached ``.npy``); a checksum recorded when the file was written
and compared before it is used catches both.

BLAKE2b (``hashlib``), 16-byte digests, read in 16 MB blocks: about 1 GB/s on one core, so a
100 MB cache entry costs a tenth of a second to check.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

BLOCK_BYTES = 16 << 20
"""Bytes read at a time."""


def file_checksum(path: str | Path) -> str:
    """``blake2b:<hex>`` of the file's bytes."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            digest.update(block)
    return f"blake2b:{digest.hexdigest()}"


class ChecksumMismatch(ValueError):
    """A file's content is not what was written: the message names the file and the way out."""


def require_checksum(path: str | Path, recorded: str | None, recorded_in: str | Path, remedy: str) -> None:
    """Raise :class:`ChecksumMismatch` if ``path``'s checksum differs from ``recorded`` (the
    value ``recorded_in`` holds); nothing to check if none was recorded (an older file)."""
    if not recorded:
        return
    actual = file_checksum(path)
    if actual != recorded:
        raise ChecksumMismatch(f"{path}: its content differs from the checksum recorded in {recorded_in} when it "
                               f"was written (damaged or replaced since); {remedy}")


EXPORTED_KINDS = ("waveform_int8", "float32", "int8")
"""The files an export writes, ``<stem>_<kind>.tflite``, recorded in ``<stem>_export.json``."""


def require_exported_checksum(path: str | Path) -> None:
    """Check an exported TFLite file against the checksum its export recorded (``<stem>_export.json``
    beside it, ``<kind>.checksum``); files without a record (not exported by kasc, or by an
    older kasc) are not checked.

    Raises:
      ChecksumMismatch: naming the file, the record and the way out (export again).
    """
    path = Path(path)
    kind = next((k for k in EXPORTED_KINDS if path.name.endswith(f"_{k}.tflite")), None)
    if kind is None:
        return
    record_file = path.with_name(f"{path.name[:-len(f'_{kind}.tflite')]}_export.json")
    try:
        recorded = (json.loads(record_file.read_text()).get(kind) or {}).get("checksum")
    except (OSError, ValueError, AttributeError):
        return
    require_checksum(path, recorded, record_file, f"export the run again (python -m kasc.export "
                                                  f"{path.parent}) or copy the file again")
