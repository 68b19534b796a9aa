"""The survey of the training files: the clip length it picks and its notes on surprises."""

import numpy as np
import pytest
import soundfile as sf

from kasc.config import ConfigError, load_config
from kasc.data import survey


def _wav(path, seconds, rate):
    sf.write(str(path), np.zeros(int(round(seconds * rate)), dtype=np.float32), rate)
    return str(path)


def _manifest(tmp_path, durations, rate=8000):
    rows = ["filename,label,split"]
    for i, seconds in enumerate(durations):
        rows.append(f"{_wav(tmp_path / f'c{i}.wav', seconds, rate)},{'ab'[i % 2]},{'train' if i % 4 else 'valid'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return str(tmp_path / "labels.csv")


def test_the_clip_length_is_the_median_duration_rounded_up_within_limits(tmp_path):
    items = [(_wav(tmp_path / f"{i}.wav", s, 8000),) for i, s in enumerate([0.3, 0.74, 0.76, 2.0])]
    found = survey.survey_items(items)
    assert found.surveyed == 4 and found.median_seconds == pytest.approx(0.75)
    assert survey.clip_seconds_for(found) == pytest.approx(0.8)
    short = survey.survey_items(items[:1])
    assert survey.clip_seconds_for(short) == survey.SHORTEST_CLIP_SECONDS
    long = survey.DataSurvey(1, 1, np.array([3600.0]), np.array([16000]))
    assert survey.clip_seconds_for(long) == survey.LONGEST_CLIP_SECONDS


def test_rebuilt_recordings_count_all_their_segments_and_unreadable_headers_are_left_out(tmp_path):
    a, b = _wav(tmp_path / "a.wav", 1.0, 16000), _wav(tmp_path / "b.wav", 1.0, 16000)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    found = survey.survey_items([(a, b), (str(tmp_path / "bad.wav"),)])
    assert found.clips == 2 and found.surveyed == 1
    assert found.seconds.tolist() == [2.0]


def test_a_median_clip_length_is_set_from_the_files_and_notes_name_each_surprise(tmp_path):
    manifest = _manifest(tmp_path, [0.4] * 12, rate=8000)
    cfg = load_config("own_data_plain", [f"data.manifest={manifest}", "data.cache_dir=" + str(tmp_path / "c")])
    found = survey.survey_split(cfg.data)
    assert found.clips == 9  # the training split only
    picked = survey.with_clip_length(cfg, found)
    assert picked.data.clip_seconds == pytest.approx(0.5)
    notes = survey.data_notes(picked.data, picked.augment, found)
    assert any("below data.sample_rate 16000 Hz (8000 Hz)" in n and "data.sample_rate=8000 matches" in n for n in notes)
    assert any("20% of the 0.5 s" in n for n in notes) is False  # 20 % padding is no surprise
    fixed = load_config("own_data_plain", [f"data.manifest={manifest}", "data.clip_length=fixed",
                                           "data.clip_seconds=1"])
    assert survey.with_clip_length(fixed, found).data.clip_seconds == 1.0
    padded = survey.data_notes(fixed.data, fixed.augment, found)
    assert any("60% of the 1 s training windows is zero padding" in n and "first frame" in n for n in padded)
    cut = load_config("own_data_plain", [f"data.manifest={manifest}", "data.clip_length=fixed",
                                         "data.clip_seconds=0.2", "augment.time_masks=0"])
    assert any("50% of the training audio is never heard" in n for n in survey.data_notes(cut.data, cut.augment, found))


def test_a_picked_clip_length_is_checked_again(tmp_path):
    manifest = _manifest(tmp_path, [0.6] * 8, rate=16000)
    cfg = load_config("own_data_plain", [f"data.manifest={manifest}", "augment.time_mask_max_frames=4"])
    with pytest.raises(ConfigError, match=r"data.clip_length 'median' picked data.clip_seconds 0.6.*time_mask_max_frames"):
        survey.with_clip_length(cfg, survey.survey_split(cfg.data))
    with pytest.raises(ConfigError, match="data.clip_length must be one of fixed, median"):
        load_config("own_data_plain", ["data.clip_length=mean"])


def test_kasc_data_reports_windows_and_audio_hours_and_the_picked_clip_length(tmp_path, capsys, monkeypatch):
    from kasc.data.__main__ import main

    manifest = _manifest(tmp_path, [2.0] * 8, rate=16000)
    monkeypatch.chdir(tmp_path)
    assert main(["own_data_plain", "--set", f"data.manifest={manifest}", "--set", "data.clip_length=fixed",
                 "--set", "data.clip_seconds=1", "--set", f"data.cache_dir={tmp_path / 'cache'}"]) == 0
    out = capsys.readouterr().out
    assert "train: 6 clips, 0.002 h of windows (0.003 h of audio in the files)" in out
    assert "note: 50% of the training audio is never heard" in out
    assert main(["own_data_plain", "--set", f"data.manifest={manifest}",
                 "--set", f"data.cache_dir={tmp_path / 'cache'}"]) == 0
    out = capsys.readouterr().out
    assert "clip length 2 s: the training files' median duration 2.00 s" in out and "note:" not in out
