import re

import numpy as np
import pytest
import soundfile as sf

from kasc.config import load_config
from kasc.data.audio import load_clip
from kasc.data.datasets import load_split
from kasc.data.table import DatasetError
from kasc.data.tau import SCENE_CLASSES, parse_tau_name, read_dcase24_subset, read_tau, rebuild_recordings
from tests.conftest import write_tau_dataset


def test_tau22_mini_splits(tau22_mini):
    train = read_tau(tau22_mini, "fold1_train")
    evaluate = read_tau(tau22_mini, "fold1_evaluate")
    test = read_tau(tau22_mini, "fold1_test")
    assert (len(train), len(evaluate), len(test)) == (70, 30, 30)
    assert sorted(train["label"].unique()) == list(SCENE_CLASSES)
    assert set(train["device"]) == {"a"}
    assert test["label"].tolist() == evaluate["label"].tolist()  # test labels come from meta.csv
    assert all(len(p) == 1 and p[0].endswith(".wav") for p in train["paths"])
    assert not set(train["filename"]) & set(evaluate["filename"])


def test_tau22_name_fields():
    fields = parse_tau_name("audio/street_pedestrian-lyon-1162-44650-3-s4.wav", "tau22")
    assert fields["scene"] == "street_pedestrian" and fields["index"] == 3 and fields["device"] == "s4"
    assert fields["recording"] == "street_pedestrian-lyon-1162-44650-s4"
    with pytest.raises(DatasetError, match="does not match the tau22 pattern"):
        parse_tau_name("audio/bus-lyon-1-2-a.wav", "tau22")


def test_rebuild_10s_on_mini(tau22_mini):
    segments = read_tau(tau22_mini, "all")
    recordings = rebuild_recordings(segments)
    assert len(recordings) == 10
    assert sorted(recordings["label"]) == list(SCENE_CLASSES)
    for row in recordings.itertuples():
        assert len(row.paths) == 10
        assert [parse_tau_name(p, "tau22")["index"] for p in row.paths] == list(range(10))
        assert row.filename.startswith(f"audio/{row.label}-")
    row = recordings.iloc[3]
    audio = load_clip(row.paths, 16000, 160000)
    parts = np.concatenate([load_clip(p, 16000, 16000) for p in row.paths])
    np.testing.assert_array_equal(audio, parts)
    # exactly 10 s: the ten segments hold 10 x 44100 samples at 44.1 kHz
    assert sum(sf.info(p).frames for p in row.paths) == 441000
    assert {sf.info(p).samplerate for p in row.paths} == {44100}


def test_rebuild_via_config_train_split_gives_7s(tau22_mini):
    cfg = load_config("tau22_10s")
    table = load_split(cfg.data, "train")
    assert len(table) == 10 and all(len(p) == 7 for p in table["paths"])


TAU20_NAMES = [("audio/bus-lyon-1-100-a.wav", "bus"), ("audio/park-paris-2-200-b.wav", "park"),
               ("audio/bus-lyon-3-300-s1.wav", "bus"), ("audio/park-paris-4-400-s2.wav", "park")]


def test_tau20_reader(tmp_path):
    root = write_tau_dataset(tmp_path / "tau20", TAU20_NAMES, train=[n for n, _ in TAU20_NAMES[:3]],
                             evaluate=[TAU20_NAMES[3][0]], seconds=0.2)
    train = read_tau(root, "fold1_train", layout="tau20")
    assert train["device"].tolist() == ["a", "b", "s1"]
    assert train["recording"].tolist()[0] == "bus-lyon-1-100-a"
    with pytest.raises(DatasetError, match="tau22 pattern"):
        read_tau(root, "fold1_train", layout="tau22")


TAU22_NAMES = [(f"audio/{scene}-milan-{loc}-{seg}-{i}-{dev}.wav", scene)
               for scene, loc, seg, dev in (("bus", 1, 10, "a"), ("tram", 2, 20, "s4"))
               for i in range(3)]


def test_dcase24_split_selects_subset(tmp_path):
    names = [n for n, _ in TAU22_NAMES]
    root = write_tau_dataset(tmp_path / "tau22", TAU22_NAMES, train=names[:5], evaluate=names[5:], seconds=0.1)
    train = read_tau(root, "fold1_train")
    (tmp_path / "split25.csv").write_text("filename\tscene_label\n" + f"{names[0]}\tbus\n{names[3]}\ttram\n")
    subset = read_dcase24_subset(train, tmp_path / "split25.csv")
    assert subset["filename"].tolist() == [names[0], names[3]]
    (tmp_path / "split5.csv").write_text(f"filename\n{names[5]}\n")
    with pytest.raises(DatasetError, match=r"split5.csv: 1 of 1 file\(s\) are not in the training split"):
        read_dcase24_subset(train, tmp_path / "split5.csv")
    cfg = load_config("default", [f"data.root={root}", f"data.subset_csv={tmp_path / 'split25.csv'}"])
    assert len(load_split(cfg.data, "train")) == 2 and len(load_split(cfg.data, "valid")) == 1


def test_missing_column_names_column_and_file(tmp_path):
    names = [n for n, _ in TAU22_NAMES]
    root = write_tau_dataset(tmp_path / "tau22", TAU22_NAMES, train=names[:5], evaluate=names[5:], seconds=0.1)
    (root / "meta.csv").write_text("filename\tscene_label\tidentifier\n")
    with pytest.raises(DatasetError, match=r"meta.csv: missing column 'source_label'"):
        read_tau(root, "fold1_train")


def test_comma_separated_split_file_is_explained(tmp_path):
    names = [n for n, _ in TAU22_NAMES]
    root = write_tau_dataset(tmp_path / "tau22", TAU22_NAMES, train=names[:5], evaluate=names[5:], seconds=0.1)
    (root / "evaluation_setup" / "fold1_train.csv").write_text("filename,scene_label\n")
    with pytest.raises(DatasetError, match=r"fold1_train.csv: missing column 'filename'.*tab-separated"):
        read_tau(root, "fold1_train")


def test_split_file_not_in_meta(tmp_path):
    names = [n for n, _ in TAU22_NAMES]
    root = write_tau_dataset(tmp_path / "tau22", TAU22_NAMES, train=names[:5], evaluate=names[5:], seconds=0.1)
    with open(root / "evaluation_setup" / "fold1_train.csv", "a") as fh:
        fh.write("audio/bus-milan-9-9-0-a.wav\tbus\n")
    with pytest.raises(DatasetError, match=r"fold1_train.csv: 1 file\(s\) not listed in .*meta.csv"):
        read_tau(root, "fold1_train")


@pytest.mark.parametrize("percent", [5, 10, 25, 50, 100])
def test_dcase24_split_configs_read_published_split_files_on_the_mini_set(tau22_mini, tmp_path, percent):
    """Each split config names its published file; pointed at a file in the published format
    (tab-separated filename, scene_label) written from the mini set's training split, it
    trains on exactly the listed clips."""
    cfg = load_config(f"dcase24_split{percent}")
    assert cfg.data.subset_csv == f"data/dcase24_splits/split{percent}.csv" and not cfg.distill.teachers
    full = read_tau(tau22_mini, "fold1_train")
    listed = full.iloc[: max(1, round(len(full) * percent / 100))]
    split_file = tmp_path / f"split{percent}.csv"
    listed[["filename", "label"]].rename(columns={"label": "scene_label"}).to_csv(split_file, sep="\t", index=False)
    cfg = load_config(f"dcase24_split{percent}", [f"data.subset_csv={split_file}"])
    train = load_split(cfg.data, "train")
    assert sorted(train["filename"]) == sorted(listed["filename"])
    assert len(load_split(cfg.data, "valid")) == len(read_tau(tau22_mini, "fold1_evaluate"))


def _tiny_tau(tmp_path):
    names = [n for n, _ in TAU22_NAMES]
    return write_tau_dataset(tmp_path / "tau22", TAU22_NAMES, train=names[:4], evaluate=names[4:], seconds=0.1), names


def _edit(path, old, new, count=1):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


def test_labels_are_stripped_in_meta_and_split(tmp_path):
    """A trailing space must not make a new class ('airport' vs 'airport ')."""
    root, names = _tiny_tau(tmp_path)
    _edit(root / "meta.csv", f"{names[0]}\tbus\t", f"{names[0]}\tbus \t")  # meta.csv only: not a disagreement
    _edit(root / "evaluation_setup" / "fold1_train.csv", f"{names[1]}\tbus", f" {names[1]} \tbus  ")
    table = read_tau(root, "fold1_train")
    assert sorted(set(table["label"])) == ["bus", "tram"] and table["filename"][1] == names[1]


def test_duplicate_rows_are_named_with_their_lines(tmp_path):
    root, names = _tiny_tau(tmp_path)
    split = root / "evaluation_setup" / "fold1_train.csv"
    with open(split, "a") as fh:
        fh.write(f"{names[2]}\tbus\n")
    with pytest.raises(DatasetError, match=rf"fold1_train.csv: 1 value\(s\) of column 'filename' listed more "
                                           rf"than once \(line 4: '{names[2]}'; line 6: '{names[2]}'\)"):
        read_tau(root, "fold1_train")
    meta = root / "meta.csv"
    meta.write_text(meta.read_text() + meta.read_text().splitlines()[1] + "\n")
    with pytest.raises(DatasetError, match=rf"meta.csv: 1 value\(s\) of column 'filename' .*line 2: '{names[0]}'; "
                                           rf"line 8: '{names[0]}'"):
        read_tau(root, "fold1_evaluate")


def test_empty_label_and_disagreement_name_the_line_file_and_values(tmp_path):
    root, names = _tiny_tau(tmp_path)
    split = root / "evaluation_setup" / "fold1_train.csv"
    _edit(split, f"{names[1]}\tbus", f"{names[1]}\t ")
    with pytest.raises(DatasetError, match=rf"fold1_train.csv: column 'scene_label' is empty for 1 row\(s\) "
                                           rf"\(line 3: '{names[1]}'\)"):
        read_tau(root, "fold1_train")
    _edit(split, f"{names[1]}\t ", f"{names[1]}\ttram")
    with pytest.raises(DatasetError, match=rf"fold1_train.csv: scene_label disagrees with .*meta.csv for 1 file\(s\) "
                                           rf"\(line 3: {names[1]} is 'tram' here, 'bus' on line 3 of meta.csv\)"):
        read_tau(root, "fold1_train")
    _edit(root / "meta.csv", f"{names[4]}\ttram", f"{names[4]}\t")
    with pytest.raises(DatasetError, match=rf"meta.csv: column 'scene_label' is empty .*line 6: '{names[4]}'"):
        read_tau(root, "fold1_evaluate")


def test_a_clip_in_both_splits_is_an_error_unless_allowed(tmp_path):
    from kasc.data.pipeline import prepare_splits

    root, names = _tiny_tau(tmp_path)
    with open(root / "evaluation_setup" / "fold1_evaluate.csv", "a") as fh:
        fh.write(f"{names[0]}\tbus\n")
    overrides = [f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}", "data.clip_seconds=0.1",
                 "features.n_fft=512", "features.hop_samples=256", "features.n_mels=32"]
    with pytest.raises(DatasetError, match=rf"1 audio file\(s\) are in both the training and the validation split "
                                           rf"\(.*{names[0]}\).*data.allow_overlap: true"):
        prepare_splits(load_config("default", overrides).data, progress=False)
    assert not (tmp_path / "cache").exists()  # refused before decoding
    splits = prepare_splits(load_config("default", overrides + ["data.allow_overlap=true"]).data, progress=False)
    assert len(splits["valid"].table) == 3


def test_duplicate_rows_in_a_dcase24_split_file(tmp_path):
    root, names = _tiny_tau(tmp_path)
    (tmp_path / "split5.csv").write_text(f"filename\n{names[0]}\n{names[0]}\n")
    with pytest.raises(DatasetError, match=r"split5.csv: 1 value\(s\) of column 'filename' listed more than once"):
        read_dcase24_subset(read_tau(root, "fold1_train"), tmp_path / "split5.csv")


def test_a_split_union_reads_each_split_once_and_bad_unions_are_named(tmp_path):
    root, names = _tiny_tau(tmp_path)
    cfg = load_config("default", [f"data.root={root}", "data.train_split=fold1_train+fold1_evaluate"])
    both = load_split(cfg.data, "train")
    assert both["filename"].tolist() == names  # training rows, then evaluation rows, each file once
    for bad in ("fold1_train+", "fold1_train+fold1_train"):
        with pytest.raises(DatasetError, match=re.escape(f"data.valid_split: '{bad}' is not a split name or a union")):
            load_split(load_config("default", [f"data.root={root}", f"data.valid_split={bad}"]).data, "valid")
