import json
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



def test_samples_changed_inside_a_cache_entry_are_noticed_and_rebuilt(tmp_path, monkeypatch, capsys):
    """A cached .npy whose samples were overwritten (its header intact) no longer matches the
    checksum recorded when it was written: one note, and the entry is rebuilt from the audio."""
    items = _items(tmp_path)
    cache = AudioCache(tmp_path / "cache", 16000, 4000, progress=False)
    good = np.array(cache.load(items))
    entry = next((tmp_path / "cache").glob("*.npy"))
    assert json.loads(entry.with_suffix(".json").read_text())["checksum"].startswith("blake2b:")
    data = bytearray(entry.read_bytes())
    data[-4000:] = bytes(4000)  # the last clip's samples zeroed, the .npy header as it was
    entry.write_bytes(bytes(data))
    assert np.load(entry).shape == good.shape  # still a valid array
    monkeypatch.setattr(cache_module, "_CHECKED", set())  # a new run (process)
    again = np.array(cache.load(items))
    assert "was changed since it was written (its content checksum differs" in capsys.readouterr().err
    np.testing.assert_array_equal(again, good)
    cache.load(items)
    assert "changed" not in capsys.readouterr().err  # rebuilt: its new checksum holds

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
    # the failed build leaves nothing to resume (a changed file restarts the cache anyway)
    assert not list((tmp_path / "cache").glob("*.partial.*")), list((tmp_path / "cache").iterdir())


def test_two_processes_needing_one_entry_decode_it_once(tmp_path, monkeypatch):
    """Two runs starting on a new dataset at once: one builds, the other waits and reuses."""
    import threading

    items = _items(tmp_path, n=6)
    decoded, real_load = [], cache_module.load_clip

    def slow_load(paths, *args):
        decoded.append(paths)
        time.sleep(0.05)
        return real_load(paths, *args)

    monkeypatch.setattr(cache_module, "load_clip", slow_load)
    results, errors = {}, []

    def run(name):
        try:  # separate AudioCache objects and lock handles, as two processes would have
            results[name] = np.array(AudioCache(tmp_path / "cache", 16000, 4000, progress=False, workers=1).load(items))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 2
    assert len(decoded) == len(items)  # built once
    np.testing.assert_array_equal(results["first"], results["second"])
    assert sorted(p.name.split(".", 1)[1] for p in (tmp_path / "cache").iterdir()) == ["json", "lock", "npy"]


def test_clean_lists_and_removes_leftovers_but_not_live_files(tmp_path, capsys):
    from kasc.clean import main as clean_main
    from kasc.files.leftovers import find_leftovers

    items = _items(tmp_path, n=2)
    cache_dir = tmp_path / "cache"
    AudioCache(cache_dir, 16000, 4000, progress=False).load(items)
    finished = sorted(cache_dir.iterdir())
    dead_pid = 2 ** 22 + 12345  # above Linux's pid_max default of 2^22: never a running process
    leftovers = [cache_dir / "0123abcd.partial.npy", cache_dir / "0123abcd.partial.json",
                 cache_dir / f"0123abcd.tmp{dead_pid}.partial.json", tmp_path / "run" / f"model.tmp{dead_pid}.keras"]
    live = tmp_path / "run" / f"metrics.tmp{os.getpid()}.json"  # a write in progress in this process
    for path in leftovers + [live]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    found = find_leftovers([tmp_path])
    assert sorted(item.path for item in found) == sorted(leftovers)

    assert clean_main([str(tmp_path)]) == 0  # listing only
    out = capsys.readouterr()
    assert out.out.count("leftover\t") == 4 and "--delete removes them" in out.err
    assert all(path.exists() for path in leftovers)
    assert clean_main([str(tmp_path), "--delete"]) == 0
    assert not any(path.exists() for path in leftovers) and live.exists()
    assert sorted(cache_dir.iterdir()) == finished  # the finished cache entry is untouched
    assert clean_main([str(tmp_path)]) == 0 and "nothing left behind" in capsys.readouterr().out


def test_cache_that_does_not_fit_is_refused_before_writing(tmp_path, monkeypatch):
    import kasc.files.atomic
    from kasc.files.atomic import DiskFullError

    items = _items(tmp_path, n=3)
    monkeypatch.setattr(kasc.files.atomic, "free_bytes", lambda folder: 10_000)  # 3 x 4000 int16 samples + 64 KB margin
    with pytest.raises(DiskFullError, match=r"no space left to write .*\.partial\.npy: it needs about 87.4 KB"):
        AudioCache(tmp_path / "cache", 16000, 4000, progress=False).load(items)
    assert not list((tmp_path / "cache").glob("*.npy"))


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_a_damaged_cache_entry_is_rebuilt_with_a_note_and_listed_by_clean(tmp_path, capsys, damage):
    from kasc.files.leftovers import find_leftovers

    items = _items(tmp_path, n=3)
    cache = AudioCache(tmp_path / "cache", 16000, 4000, progress=False)
    expected = np.array(cache.load(items))
    entry = next(p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".npy"))
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" + data[8:])
    assert [item.path for item in find_leftovers([tmp_path / "cache"])] == [entry]
    capsys.readouterr()
    np.testing.assert_array_equal(AudioCache(tmp_path / "cache", 16000, 4000, progress=False).load(items), expected)
    assert f"the audio cache entry {entry} is damaged" in capsys.readouterr().err
    assert find_leftovers([tmp_path / "cache"]) == []
