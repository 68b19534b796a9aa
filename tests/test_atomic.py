"""Atomic writes: the target appears only complete, with its suffixes kept for the writer."""

import pytest

from kasc.atomic import atomic_path, read_json, write_json


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
