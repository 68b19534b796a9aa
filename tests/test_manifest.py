import pandas as pd
import pytest

from kasc.config import load_config
from kasc.data.datasets import load_split
from kasc.data.manifest import read_manifest
from kasc.data.table import DatasetError, limit_per_split
from tests.conftest import shared_path, write_tone


def _manifest(tmp_path, header="path,label,device,fold", sep=","):
    rows = [("x0.wav", "dog", "m1", "1"), ("x1.wav", "cat", "m2", "1"), ("sub/x2.wav", "dog", "m1", "2")]
    for name, *_ in rows:
        write_tone(tmp_path / "audio" / name, 0.1, 8000)
    lines = [header.replace(",", sep)] + [sep.join(r) for r in rows]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "m.csv"


@pytest.mark.parametrize("sep", [",", "\t"])
def test_generic_manifest(tmp_path, sep):
    manifest = _manifest(tmp_path, sep=sep)
    table = read_manifest(manifest, "path", "label", "device", "fold", folds=("1",), audio_dir="audio")
    assert table["label"].tolist() == ["dog", "cat"] and table["device"].tolist() == ["m1", "m2"]
    assert table["paths"][0][0] == str((tmp_path / "audio" / "x0.wav").resolve())
    everything = read_manifest(manifest, "path", "label", audio_dir="audio")
    assert len(everything) == 3 and set(everything["device"]) == {""}


def test_manifest_missing_column(tmp_path):
    manifest = _manifest(tmp_path)
    with pytest.raises(DatasetError, match=r"m.csv: missing column 'class'"):
        read_manifest(manifest, "path", "class")


def test_audio_dir_placeholder_unknown_column(tmp_path):
    manifest = _manifest(tmp_path)
    with pytest.raises(DatasetError, match="audio_dir 'audio/{split}' names an unknown column"):
        read_manifest(manifest, "path", "label", audio_dir="audio/{split}")


def test_us8k_config_reads_the_shared_subset():
    root = shared_path("us8k-dev")
    folds = pd.read_csv(root / "metadata.csv")["fold"].value_counts()  # the data's own count, whatever its size
    cfg = load_config("us8k")
    train, valid = load_split(cfg.data, "train"), load_split(cfg.data, "valid")
    assert len(set(train["label"])) == 10
    assert (len(train), len(valid)) == (folds[1], folds[2])
    assert all(p[0].endswith(".flac") and "/fold1/" in p[0] for p in train["paths"])


def test_a_fold_union_reads_both_folds_and_a_missing_fold_is_named(tmp_path):
    manifest = _manifest(tmp_path)
    both = read_manifest(manifest, "path", "label", "device", "fold", folds=("1", "2"), audio_dir="audio")
    assert both["filename"].tolist() == ["x0.wav", "x1.wav", "sub/x2.wav"]
    with pytest.raises(DatasetError, match=r"m.csv: no row has fold 3 \(asked for folds 1\+3; present: 1, 2\)"):
        read_manifest(manifest, "path", "label", "device", "fold", folds=("1", "3"), audio_dir="audio")


def test_limit_keeps_every_class(tmp_path):
    table = read_manifest(_manifest(tmp_path), "path", "label", audio_dir="audio")
    small = limit_per_split(table, 2)
    assert sorted(small["label"]) == ["cat", "dog"]


def test_manifest_duplicates_and_empty_labels_name_their_lines(tmp_path):
    manifest = _manifest(tmp_path)
    manifest.write_text(manifest.read_text() + "x0.wav,cat,m1,1\n")
    with pytest.raises(DatasetError, match=r"m.csv: 1 audio file\(s\) listed more than once \(line 2: .*x0.wav'; "
                                           r"line 5: .*x0.wav'\)"):
        read_manifest(manifest, "path", "label", audio_dir="audio")
    read_manifest(manifest, "path", "label", "", "fold", folds=("2",), audio_dir="audio")  # not within fold 2
    manifest.write_text(manifest.read_text().replace("x1.wav,cat", "x1.wav,  "))
    with pytest.raises(DatasetError, match=r"m.csv: column 'label' is empty for 1 row\(s\) \(line 3: 'x1.wav'\)"):
        read_manifest(manifest, "path", "label", audio_dir="audio")


@pytest.mark.parametrize("other", ["Airport", " airport", "airport ", "AIRPORT"])
def test_labels_that_differ_only_in_spelling_are_an_error_naming_both(tmp_path, other):
    import unicodedata

    from kasc.data.table import class_names

    rows = [("a.wav", "airport"), ("b.wav", other), ("c.wav", "park")]
    table = pd.DataFrame({"filename": [r[0] for r in rows], "label": [r[1] for r in rows]})
    with pytest.raises(DatasetError, match=rf"labels 'airport' \(e.g. a.wav\) and {other!r} \(e.g. b.wav\)".replace(
            "'", "'")):
        class_names(table)
    cafe = pd.DataFrame({"filename": ["x.wav", "y.wav"],
                         "label": [unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")]})
    with pytest.raises(DatasetError, match="Unicode normal form"):
        class_names(cafe)
    assert class_names(pd.DataFrame({"filename": ["a", "b"], "label": ["bus", "park"]})) == ["bus", "park"]


@pytest.mark.parametrize("other, shown", [("siren\u200b", r"siren\\u200b"), ("\uff53iren", r"\\uff53iren"),
                                          ("si\u00adren", r"si\\xadren"), ("\ufeffsiren", r"\\ufeffsiren")])
def test_invisible_and_full_width_look_alikes_are_one_class_error_naming_both(other, shown):
    """A zero-width space, a full-width letter, a soft hyphen or a byte-order mark make a label
    that looks like another one: an error naming both, escaped so that the difference shows."""
    from kasc.data.table import class_names

    table = pd.DataFrame({"filename": ["a.wav", "b.wav"], "label": ["siren", other]})
    with pytest.raises(DatasetError, match=rf"labels 'siren' \(e.g. a.wav\) and '{shown}' \(e.g. b.wav\) differ only "
                                           rf"in case, width, invisible characters"):
        class_names(table)
    assert class_names(pd.DataFrame({"filename": ["a", "b"], "label": ["siren", "sirens"]})) == ["siren", "sirens"]


def test_a_symbolic_link_loop_in_a_manifest_is_one_error_naming_the_row(tmp_path):
    import os

    (tmp_path / "audio").mkdir()
    os.symlink("loop.wav", tmp_path / "audio" / "loop.wav")  # points at itself
    (tmp_path / "m.csv").write_text("path,label\nloop.wav,cat\n")
    with pytest.raises(DatasetError, match=r"m.csv: line 2: audio path 'loop.wav' cannot be followed .*symbolic link loop"):
        read_manifest(tmp_path / "m.csv", "path", "label", audio_dir="audio")


def test_confined_paths_stay_inside_the_manifest_folder(tmp_path):
    """By default a manifest may name any file (a local tool); data.confine_paths refuses paths
    that lead outside its folder: absolute ones elsewhere, ../, and symbolic links out."""
    import os

    data, outside = tmp_path / "data", tmp_path / "elsewhere"
    write_tone(data / "in.wav", 0.1, 8000)
    write_tone(outside / "out.wav", 0.1, 8000)
    os.symlink(outside / "out.wav", data / "link.wav")
    for path in ("../elsewhere/out.wav", str(outside / "out.wav"), "link.wav"):
        (data / "m.csv").write_text(f"path,label\nin.wav,cat\n{path},dog\n")
        assert len(read_manifest(data / "m.csv", "path", "label")) == 2  # allowed by default
        with pytest.raises(DatasetError, match=rf"m.csv: line 3: audio path '{path}' leads to .*out.wav, outside the "
                                               r"manifest's folder .*data \(data.confine_paths is true\)"):
            read_manifest(data / "m.csv", "path", "label", confine_paths=True)
    (data / "m.csv").write_text("path,label\nin.wav,cat\n")
    assert len(read_manifest(data / "m.csv", "path", "label", confine_paths=True)) == 1
    cfg = load_config("own_data_plain", [f"data.manifest={data / 'm.csv'}", "data.confine_paths=true"])
    assert cfg.data.confine_paths is True
