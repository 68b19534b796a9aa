"""Parts of a training split by recording (``kasc.data.parts``): whole recordings, the same
parts for 1 s segments and their rebuilt 10 s recordings, a held-out part left out."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from kasc.config import DataConfig
from kasc.data.datasets import load_split
from kasc.data.manifest import read_manifest
from kasc.data.parts import clip_groups, clip_parts, group_parts, without_part
from kasc.data.table import DatasetError, make_table
from tests.conftest import write_tone


def _table(n_recordings: int = 12, clips_per_recording: int = 3, classes: int = 3) -> pd.DataFrame:
    rows = [{"filename": f"r{r}-{c}.wav", "paths": (f"/x/r{r}-{c}.wav",), "label": f"class{r % classes}",
             "recording": f"rec{r}"} for r in range(n_recordings) for c in range(clips_per_recording)]
    return make_table(pd.DataFrame(rows))


def test_parts_keep_recordings_whole_cover_every_clip_and_spread_the_classes():
    table = _table()
    parts = clip_parts(table, 3)
    assert set(parts) == {1, 2, 3}
    for _, group in table.assign(part=parts).groupby("recording"):
        assert group["part"].nunique() == 1  # a recording never spans two parts
    counts = pd.crosstab(table["label"], parts)
    assert (counts > 0).all().all()  # 4 recordings per class over 3 parts: every part has every class
    assert np.array_equal(parts, clip_parts(table.copy(), 3))  # no randomness


def test_a_clip_without_a_recording_is_its_own_group():
    table = _table().assign(recording="")
    assert list(clip_groups(table)) == list(table["filename"])
    assert len(group_parts(table, 4)) == len(table)


def test_without_part_removes_exactly_that_part_and_parts_of_a_subset_follow_the_whole():
    table = _table()
    parts = clip_parts(table, 3)
    for part in (1, 2, 3):
        kept = without_part(table, 3, part)
        assert sorted(kept["filename"]) == sorted(table["filename"][parts != part])
    subset = table.iloc[::5].reset_index(drop=True)
    assert np.array_equal(clip_parts(subset, 3, whole=table), parts[::5])


def test_fewer_recordings_than_parts_is_an_error():
    with pytest.raises(DatasetError, match="2 recording\\(s\\), fewer than the 3 parts"):
        group_parts(_table(n_recordings=2), 3)


def test_manifest_recording_column_groups_slices(tmp_path):
    lines = ["slice,fsID,class"]
    for i, (fs, label) in enumerate([("7", "dog"), ("7", "dog"), ("9", "car"), ("11", "dog")]):
        write_tone(tmp_path / f"s{i}.wav", 0.1, 8000)
        lines.append(f"s{i}.wav,{fs},{label}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    table = read_manifest(tmp_path / "m.csv", "slice", "class", recording_column="fsID")
    assert list(table["recording"]) == ["7", "7", "9", "11"]
    with pytest.raises(DatasetError, match="fsid"):
        read_manifest(tmp_path / "m.csv", "slice", "class", recording_column="fsid")


def test_a_rebuilt_teacher_split_holds_out_the_recordings_of_the_students_part(tiny_tau):
    segments = DataConfig(root=str(tiny_tau))
    student = load_split(segments, "train")
    part_of_segment = dict(zip(student["recording"], clip_parts(student, 2)))
    for part in (1, 2):
        held_out = dataclasses.replace(segments, train_parts=2, held_out_part=part)
        teacher = load_split(dataclasses.replace(held_out, rebuild_10s=True), "train")
        assert teacher["recording"].tolist() and all(part_of_segment[r] != part for r in teacher["recording"])
        assert len(load_split(held_out, "train")) == int(sum(p != part for p in clip_parts(student, 2)))
        assert len(load_split(held_out, "valid")) == len(load_split(segments, "valid"))  # validation untouched
