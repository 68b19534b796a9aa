"""Atomic writes: the target appears only complete, with its suffixes kept for the writer."""

import pytest

from kasc.files.atomic import atomic_path, read_json, write_json


def test_replaces_on_success_and_keeps_suffixes(tmp_path):
    target = tmp_path / "sub" / "last.weights.h5"
    with atomic_path(target) as tmp:
        assert tmp.name.startswith("last.tmp") and tmp.name.endswith(".weights.h5")
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in target.parent.iterdir()) == ["last.weights.h5"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"accuracy": 0.5})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("{half")
            raise RuntimeError("killed")
    assert read_json(target) == {"accuracy": 0.5} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    assert read_json(tmp_path / "missing.json") == {}


def _fake_free(monkeypatch, free: int):
    """A disk with ``free`` bytes left, as :func:`kasc.files.atomic.free_bytes` reports it."""
    import kasc.files.atomic

    monkeypatch.setattr(kasc.files.atomic, "free_bytes", lambda folder: free)


def test_too_little_space_is_refused_before_writing(tmp_path, monkeypatch):
    from kasc.files.atomic import DiskFullError

    target = tmp_path / "last.weights.h5"
    target.write_bytes(b"x" * 5000)  # replacing it needs room for a second copy
    _fake_free(monkeypatch, 4000)
    with pytest.raises(DiskFullError, match=r"no space left to write .*last.weights.h5: it needs about 4.9 KB, "
                                            r"3.9 KB free") as caught:
        with atomic_path(target):
            raise AssertionError("must not be reached")  # pragma: no cover
    assert caught.value.needed_bytes == 5000 and caught.value.free_bytes == 4000
    assert target.read_bytes() == b"x" * 5000 and [p.name for p in tmp_path.iterdir()] == ["last.weights.h5"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"),
                                   RuntimeError("Can't close file (file write failed: ..., errno = 28, error "
                                                "message = 'No space left on device')")],
                         ids=["os", "h5py"])
def test_a_write_that_runs_out_of_space_is_named_and_leaves_no_temporary(tmp_path, monkeypatch, error):
    from kasc.files.atomic import DiskFullError

    target = tmp_path / "model.keras"
    with pytest.raises(DiskFullError, match="no space left to write .*model.keras"):
        with atomic_path(target, expected_bytes=100) as tmp:
            tmp.write_bytes(b"half")
            raise error
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through(tmp_path):
    with pytest.raises(OSError) as caught:
        with atomic_path(tmp_path / "x.json"):
            raise PermissionError(13, "Permission denied")
    assert caught.value.errno == 13 and list(tmp_path.iterdir()) == []
