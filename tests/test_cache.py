import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from kasc.data import cache as cache_module
from kasc.data.audio import AudioReadError, load_clip, to_int16
from kasc.data.cache import AudioCache
from tests.conftest import REPO, write_tone


def _items(tmp_path, n=5, seconds=0.25):
    items = []
    for i in range(n):
        write_tone(tmp_path / "audio" / f"c{i}.wav", seconds, 22050, freq=300.0 + 40 * i)
        items.append((str(tmp_path / "audio" / f"c{i}.wav"),))
    return items


def test_cache_matches_decoding_and_is_reused(tmp_path, monkeypatch):
    items = _items(tmp_path)
    cache = AudioCache(tmp_path / "cache", 16000, 4000, progress=False)
    array = cache.load(items)
    assert array.shape == (5, 4000) and array.dtype == np.int16 and isinstance(array, np.memmap)
    np.testing.assert_array_equal(array[2], to_int16(load_clip(items[2], 16000, 4000)))

    calls = []
    monkeypatch.setattr(AudioCache, "_build", lambda *a, **k: calls.append(a))
    again = cache.load(items)
    assert calls == [] and np.array_equal(again, array)


def test_changed_file_invalidates_cache(tmp_path):
    items = _items(tmp_path)
    cache = AudioCache(tmp_path / "cache", 16000, 4000, progress=False)
    before = np.array(cache.load(items)[1])
    write_tone(tmp_path / "audio" / "c1.wav", 0.25, 22050, freq=1000.0)
    os.utime(items[1][0], ns=(time.time_ns(), time.time_ns() + 10**9))
    after = np.array(cache.load(items)[1])
    assert not np.array_equal(before, after)


def test_interrupted_build_is_not_trusted_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "CHUNK_CLIPS", 2)
    items = _items(tmp_path, n=7)
    cache = AudioCache(tmp_path / "cache", 16000, 4000, progress=False, workers=1)
    decoded = []
    real_load = cache_module.load_clip

    def failing_load(paths, *args):
        if len(decoded) == 5:
            raise KeyboardInterrupt("simulated kill")
        decoded.append(paths)
        return real_load(paths, *args)

    monkeypatch.setattr(cache_module, "load_clip", failing_load)
    with pytest.raises(KeyboardInterrupt):
        cache.load(items)
    files = cache.paths_for(cache_module.cache_key(items, 16000, 4000))
    assert not files["meta"].exists() and not files["array"].exists()
    assert files["partial"].exists()
    monkeypatch.setattr(cache_module, "load_clip", real_load)
    resumed = []
    monkeypatch.setattr(cache_module, "load_clip", lambda p, *a: resumed.append(p) or real_load(p, *a))
    array = cache.load(items)
    assert resumed == items[4:]  # two chunks of 2 were finished before the failure
    fresh = AudioCache(tmp_path / "fresh", 16000, 4000, progress=False).load(items)
    np.testing.assert_array_equal(array, fresh)
    assert not files["partial"].exists() and not files["progress"].exists()


@pytest.mark.slow
def test_sigkill_while_caching_then_rerun_completes(tmp_path):
    items = _items(tmp_path, n=40, seconds=0.1)
    script = textwrap.dedent(f"""
        import time, sys
        from kasc.data import cache as c
        c.CHUNK_CLIPS = 4
        real = c.load_clip
        def slow(*a):
            time.sleep(0.05)
            return real(*a)
        c.load_clip = slow
        c.AudioCache({str(tmp_path / 'cache')!r}, 16000, 2000, progress=False, workers=1).load({items!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    key = cache_module.cache_key(items, 16000, 2000)
    progress = tmp_path / "cache" / f"{key}.partial.json"
    deadline = time.time() + 60
    while not progress.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert progress.exists(), "the child never finished a chunk"
    assert not (tmp_path / "cache" / f"{key}.json").exists()
    array = AudioCache(tmp_path / "cache", 16000, 2000, progress=False).load(items)
    fresh = AudioCache(tmp_path / "fresh", 16000, 2000, progress=False).load(items)
    np.testing.assert_array_equal(array, fresh)


def test_bad_files_are_listed_before_decoding(tmp_path):
    items = _items(tmp_path, n=3)
    os.remove(items[0][0])
    open(items[2][0], "w").close()
    with pytest.raises(AudioReadError, match=r"2 audio file\(s\) cannot be used:\n.*c0.wav: file not found\n.*c2.wav: file is empty"):
        AudioCache(tmp_path / "cache", 16000, 4000, progress=False).load(items)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").glob("*.npy"))


def test_undecodable_file_named(tmp_path):
    items = _items(tmp_path, n=2)
    with open(items[1][0], "wb") as fh:
        fh.write(b"not audio" * 100)
    with pytest.raises(AudioReadError, match=r"c1.wav: not a readable audio file"):
        AudioCache(tmp_path / "cache", 16000, 4000, progress=False).load(items)
