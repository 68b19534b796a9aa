"""On-disk cache of decoded, resampled clips: one int16 ``.npy`` per dataset split.

Every clip of a table is decoded and resampled once into ``<cache_dir>/<key>.npy``, an
int16 array of shape (n_clips, clip_samples) read back memory-mapped, so the cache never
has to fit in memory (TAU22 at 16 kHz is about 5 GB). The key hashes the clip list, the
sample rate and the clip length; a fingerprint of the files' sizes and modification
times decides whether a finished cache is still valid.

Writing is atomic and resumable: rows go to ``<key>.partial.npy`` and, after each flushed
chunk, the count of finished rows to ``<key>.partial.json`` (replaced atomically). Only
when every row is written is the array renamed to ``<key>.npy`` and ``<key>.json``
written; a cache is trusted only when ``<key>.json`` exists. A run killed while caching
leaves a partial cache that the next run continues from its last finished chunk; a build
that fails on a bad file removes its partial files (the file must change before the
cache can be built, and a changed file restarts it anyway).

Two processes that need the same entry (two runs on a new dataset) do not both build
it: the builder holds ``<key>.lock`` (``kasc.files.locks``) and the other waits for it, then
reuses the finished cache. The space the array needs is checked before building.
``python -m kasc.clean`` lists (and with ``--delete`` removes) partial entries no
process is building and temporary files left by killed processes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from kasc.cli import progress_bar
from kasc.data.audio import AudioReadError, check_audio_file, load_clip, to_int16
from kasc.files.atomic import ensure_free_space, read_json, write_json
from kasc.files.checksums import file_checksum
from kasc.files.locks import exclusive

CACHE_FORMAT_VERSION = 1
CHUNK_CLIPS = 256


def cache_key(items: Sequence[Sequence[str]], sample_rate: int, clip_samples: int) -> str:
    """Hash of the clip list (each clip a tuple of paths), rate and length."""
    digest = hashlib.sha1(f"v{CACHE_FORMAT_VERSION}|{sample_rate}|{clip_samples}".encode())
    for paths in items:
        digest.update(("\0".join(paths) + "\n").encode())
    return digest.hexdigest()[:20]


def files_fingerprint(items: Sequence[Sequence[str]]) -> str:
    """Hash of every file's size and modification time (changes when a file changes)."""
    digest = hashlib.sha1()
    for paths in items:
        for path in paths:
            stat = os.stat(path)
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


def check_files(items: Sequence[Sequence[str]], max_listed: int = 10) -> None:
    """Check that every file exists and is not empty, before any decoding.

    Raises:
      AudioReadError: listing every bad file (up to ``max_listed``) with its problem.
    """
    problems = []
    for paths in items:
        for path in paths:
            try:
                check_audio_file(path)
            except AudioReadError as err:
                problems.append(str(err))
    if problems:
        listed = "\n  ".join(problems[:max_listed])
        more = f"\n  ... and {len(problems) - max_listed} more" if len(problems) > max_listed else ""
        raise AudioReadError(f"{len(problems)} audio file(s) cannot be used:\n  {listed}{more}")


_CHECKED: set[tuple[str, int, int]] = set()
"""Cache entries (path, size, modification time) whose checksum this process has checked."""


class AudioCache:
    """Builds and opens cached clip arrays in ``cache_dir``.

    Args:
      cache_dir: folder for the cache files (created if needed).
      sample_rate: target rate in Hz.
      clip_samples: clip length in samples at ``sample_rate``.
      workers: decoding threads (soundfile and soxr release the GIL).
      progress: show a progress bar while building.
    """

    def __init__(self, cache_dir: str | Path, sample_rate: int, clip_samples: int,
                 workers: int = 2, progress: bool = True):
        self.cache_dir = Path(cache_dir)
        self.sample_rate = int(sample_rate)
        self.clip_samples = int(clip_samples)
        self.workers = max(1, int(workers))
        self.progress = progress

    def paths_for(self, key: str) -> dict[str, Path]:
        """The cache's file names for a key."""
        base = self.cache_dir / key
        return {
            "array": base.with_suffix(".npy"),
            "meta": base.with_suffix(".json"),
            "partial": self.cache_dir / f"{key}.partial.npy",
            "progress": self.cache_dir / f"{key}.partial.json",
            "lock": self.cache_dir / f"{key}.lock",
        }

    def load(self, items: Sequence[Sequence[str]], name: str = "clips") -> np.ndarray:
        """Return the int16 array (n_clips, clip_samples) for ``items``, memory-mapped
        read-only; build (or finish building) the cache first if needed.

        Args:
          items: one tuple of file paths per clip (a table's ``paths`` column).
          name: shown in the progress bar and messages.

        Raises:
          AudioReadError: a file is missing, empty, truncated or not audio (named).
        """
        items = [tuple(map(str, paths)) for paths in items]
        check_files(items)
        key = cache_key(items, self.sample_rate, self.clip_samples)
        files = self.paths_for(key)
        fingerprint = files_fingerprint(items)
        expected = {"n_clips": len(items), "clip_samples": self.clip_samples,
                    "sample_rate": self.sample_rate, "fingerprint": fingerprint}
        array = self._finished(files, expected)
        if array is not None:
            return array
        with exclusive(files["lock"], f"the {name} audio cache entry {files['array']}", wait=True):
            array = self._finished(files, expected)  # built by another process while this one waited
            if array is None:
                try:
                    self._build(items, files, expected, name)
                except AudioReadError:
                    for kind in ("partial", "progress"):  # useless until the bad file changes
                        files[kind].unlink(missing_ok=True)
                    raise
                array = self._finished(files, expected)
        return array

    def _finished(self, files: dict[str, Path], expected: dict) -> np.ndarray | None:
        """The finished cache array if it is there and matches ``expected``, else None."""
        meta = read_json(files["meta"])
        if meta and all(meta.get(k) == v for k, v in expected.items()) and files["array"].is_file():
            try:
                array = np.load(files["array"], mmap_mode="r")
            except (ValueError, OSError) as err:  # cut short or garbled: rebuilt from the audio files
                print(f"kasc: the audio cache entry {files['array']} is damaged ({err}); rebuilding it",
                      file=sys.stderr)
                files["meta"].unlink(missing_ok=True)
                return None
            if array.shape == (expected["n_clips"], self.clip_samples) and array.dtype == np.int16:
                if self._content_intact(files, meta):
                    return array
                del array
                print(f"kasc: the audio cache entry {files['array']} was changed since it was written (its content "
                      f"checksum differs from {files['meta'].name}); rebuilding it", file=sys.stderr)
                files["meta"].unlink(missing_ok=True)
        return None

    def _content_intact(self, files: dict[str, Path], meta: dict) -> bool:
        """The entry's samples are those written (checksum in its ``.json``): checked once per
        process and file version (size and modification time); an entry written by an older
        kasc gets its checksum recorded now."""
        stat = files["array"].stat()
        seen = (str(files["array"]), stat.st_size, stat.st_mtime_ns)
        if seen in _CHECKED:
            return True
        actual = file_checksum(files["array"])
        if meta.get("checksum") and meta["checksum"] != actual:
            return False
        if not meta.get("checksum"):
            write_json(files["meta"], {**meta, "checksum": actual})
        _CHECKED.add(seen)
        return True

    def _build(self, items: list[tuple[str, ...]], files: dict[str, Path], expected: dict, name: str) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        files["meta"].unlink(missing_ok=True)
        shape = (len(items), self.clip_samples)
        progress = read_json(files["progress"])
        done = 0
        if (progress.get("fingerprint") == expected["fingerprint"]
                and files["partial"].is_file()):
            try:
                array = np.load(files["partial"], mmap_mode="r+")
                if array.shape == shape and array.dtype == np.int16:
                    done = int(progress.get("done", 0))
                else:
                    del array
            except (ValueError, OSError):
                done = 0
        if done == 0:
            files["progress"].unlink(missing_ok=True)
            files["partial"].unlink(missing_ok=True)
            # a memory-mapped file written past a full disk crashes the process (SIGBUS): check first
            ensure_free_space(files["partial"], int(np.prod(shape)) * 2 + 65536)
            array = np.lib.format.open_memmap(files["partial"], mode="w+", dtype=np.int16, shape=shape)
        if done:
            print(f"kasc: resuming the {name} cache at clip {done}/{len(items)} ({files['partial']})",
                  file=sys.stderr)
        bar = progress_bar(total=len(items), initial=done, desc=f"caching {name}", unit="clip",
                           enabled=self.progress)

        def decode(paths: tuple[str, ...]) -> np.ndarray:
            return to_int16(load_clip(paths, self.sample_rate, self.clip_samples))

        with ThreadPoolExecutor(self.workers) as pool:
            for start in range(done, len(items), CHUNK_CLIPS):
                stop = min(start + CHUNK_CLIPS, len(items))
                for row, clip in enumerate(pool.map(decode, items[start:stop]), start):
                    array[row] = clip
                array.flush()
                write_json(files["progress"], {"done": stop, "fingerprint": expected["fingerprint"]})
                bar.update(stop - start)
        bar.close()
        array.flush()
        del array
        os.replace(files["partial"], files["array"])
        write_json(files["meta"], {**expected, "format_version": CACHE_FORMAT_VERSION,
                                   "checksum": file_checksum(files["array"])})
        files["progress"].unlink(missing_ok=True)
