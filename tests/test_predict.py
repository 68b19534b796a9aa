"""``python -m kasc.predict``: any file format, folders, a bad file in the batch, TFLite."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from kasc.deployment.predictor import Predictor
from kasc.predict import main as predict_main
from tests.conftest import shared_path, write_tau_dataset
from tests.test_evaluate import make_run


@pytest.fixture
def run(tmp_path):
    names = [("audio/bus-x-1-10-0-a.wav", "bus"), ("audio/park-x-2-20-0-a.wav", "park")]
    root = write_tau_dataset(tmp_path / "d", names, train=[n for n, _ in names], evaluate=[n for n, _ in names],
                             rate=16000)
    return make_run(tmp_path, root)


def _audio_folder(tmp_path):
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(folder / "stereo_44k.wav", rng.normal(0, 0.1, (int(2.5 * 44100), 2)), 44100, subtype="PCM_24")
    sf.write(folder / "sub" / "short_8k.flac", rng.normal(0, 0.1, 4000), 8000)
    (folder / "broken.wav").write_text("this is not audio")
    return folder


@pytest.mark.slow
def test_predicts_every_readable_file_and_names_the_bad_one(run, tmp_path, capsys):
    folder = _audio_folder(tmp_path)
    out_csv = tmp_path / "pred.csv"
    assert predict_main([str(run.path), str(folder), "--output", str(out_csv)]) == 1
    captured = capsys.readouterr()
    assert "broken.wav" in captured.err and "1 of 3 file(s) could not be read" in captured.err
    assert "stereo_44k.wav" in captured.out and "short_8k.flac" in captured.out
    table = pd.read_csv(out_csv, sep="\t")
    assert list(table.columns) == ["filename", "scene_label", "bus", "park"] and len(table) == 2
    np.testing.assert_allclose(table[["bus", "park"]].sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_windows_average_and_tflite_agrees_with_keras(run, tmp_path):
    from kasc.deployment.conversion import to_tflite

    predictor = Predictor(run.path)
    assert predictor.windows(np.ones(40000, np.float32)).shape == (2, 16000)  # 2.5 s -> two 1 s windows
    assert predictor.windows(np.ones(100, np.float32)).shape == (1, 16000)  # short: zero padded
    tflite = run.path / "model_float32.tflite"
    tflite.write_bytes(to_tflite(predictor_model(run), (28, 256, 1)))
    folder = _audio_folder(tmp_path)
    keras_p = predictor.predict_file(folder / "stereo_44k.wav")
    lite_p = Predictor(tflite).predict_file(folder / "stereo_44k.wav")
    np.testing.assert_allclose(lite_p, keras_p, atol=1e-4)


@pytest.mark.slow
def test_the_waveform_model_predicts_as_the_int8_model_on_kascs_front_end(run, tmp_path, capsys):
    """``kasc.export`` writes model_waveform_int8.tflite; predict takes it as MODEL and gives the same CSV."""
    import json

    from kasc.export import main as export_main

    assert export_main([str(run.path), "--set", "data.allow_overlap=true", "--representative-clips", "2",
                        "--check-clips", "2"]) == 0
    assert "waveform:" in capsys.readouterr().out
    complexity = json.loads((run.path / "model_complexity.json").read_text())
    assert complexity["front_end"]["macs_per_second"] > 0 and complexity["front_end"]["param_bytes"] > 0
    folder = _audio_folder(tmp_path)
    tables = {}
    for name in ("model_int8.tflite", "model_waveform_int8.tflite"):
        assert predict_main([str(run.path / name), str(folder), "--output", str(tmp_path / f"{name}.csv")]) == 1
        tables[name] = pd.read_csv(tmp_path / f"{name}.csv", sep="\t")
    assert Predictor(run.path / "model_waveform_int8.tflite").waveform_in
    int8, waveform = tables["model_int8.tflite"], tables["model_waveform_int8.tflite"]
    assert list(int8.columns) == list(waveform.columns) and list(int8.filename) == list(waveform.filename)
    np.testing.assert_allclose(waveform[["bus", "park"]], int8[["bus", "park"]], atol=0.05)


def predictor_model(run):
    import keras

    return keras.models.load_model(run.model_file, compile=False)


@pytest.mark.slow
def test_shared_real_clips(run, tmp_path, capsys):
    clips = shared_path("real-clips")
    assert predict_main([str(run.path), str(clips), "--output", str(tmp_path / "real.csv")]) == 0
    table = pd.read_csv(tmp_path / "real.csv", sep="\t")
    assert len(table) == len([p for p in clips.iterdir() if p.suffix == ".wav"])


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert predict_main([str(tmp_path / "nope.keras"), str(tmp_path)]) == 2
    assert "no model at" in capsys.readouterr().err


@pytest.mark.slow
def test_batched_prediction_matches_one_file_at_a_time(run, tmp_path):
    folder = _audio_folder(tmp_path)
    rng = np.random.default_rng(1)
    for i in range(5):  # several files of different lengths in one batch of windows
        sf.write(folder / f"extra_{i}.wav", rng.normal(0, 0.1, int((0.5 + i) * 16000)), 16000)
    predictor = Predictor(run.path)
    files = sorted(folder.rglob("*.*"))
    results = list(predictor.predict_files(files, files_per_batch=3))
    assert [path for path, _, _ in results] == files  # input order kept across groups
    for path, probabilities, _ in results:
        if path.name == "broken.wav":
            assert isinstance(probabilities, ValueError) and "broken.wav" in str(probabilities)
        else:
            np.testing.assert_allclose(probabilities, predictor.predict_file(path), atol=1e-5)


@pytest.mark.slow
def test_output_is_rewritten_when_every_file_fails(run, tmp_path, capsys):
    out_csv = tmp_path / "pred.csv"
    out_csv.write_text("filename\tscene_label\nold_run.wav\tbus\n")  # an earlier run's output
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.wav").write_text("this is not audio")
    assert predict_main([str(run.path), str(tmp_path / "bad"), "--output", str(out_csv)]) == 1
    captured = capsys.readouterr()
    assert "broken.wav" in captured.err and "1 of 1 file(s) could not be read" in captured.err
    table = pd.read_csv(out_csv, sep="\t")
    assert list(table.columns) == ["filename", "scene_label", "bus", "park"] and len(table) == 0
    assert "written:" in captured.out and "(0 of 1 files)" in captured.out


@pytest.mark.slow
def test_silent_and_near_silent_files_are_predicted_with_a_warning(run, tmp_path, capsys):
    from kasc.data.audio import quiet_note, rms_dbfs

    folder = tmp_path / "quiet"
    folder.mkdir()
    sf.write(folder / "digital_silence.wav", np.zeros(16000), 16000, subtype="PCM_16")
    sf.write(folder / "whisper.wav", np.random.default_rng(0).normal(0, 1e-4, 16000), 16000, subtype="FLOAT")
    sf.write(folder / "normal.wav", np.random.default_rng(1).normal(0, 0.1, 16000), 16000, subtype="FLOAT")
    out_csv = tmp_path / "pred.csv"
    assert predict_main([str(run.path), str(folder), "--output", str(out_csv)]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, captured.err
    assert any("digital_silence.wav: digital silence" in w for w in warnings)
    assert any("whisper.wav: near-silent (RMS -80" in w for w in warnings)
    assert len(pd.read_csv(out_csv, sep="\t")) == 3  # still predicted: the warning is the signal
    assert rms_dbfs(np.full(10, 0.5)) == pytest.approx(-6.02, abs=0.01)
    assert quiet_note(-20.0) == "" and quiet_note(rms_dbfs(np.zeros(4))).startswith("digital silence")


def test_an_unusable_output_is_refused_before_any_work(tmp_path, capsys):
    # no model exists either: the output is checked first
    assert predict_main([str(tmp_path / "no_model"), str(tmp_path), "--output", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert predict_main([str(tmp_path / "no_model"), str(tmp_path), "--output", str(tmp_path / "a_file" / "p.csv")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    # a folder that does not exist yet is fine (it is created): the model's absence is the error
    assert predict_main([str(tmp_path / "no_model"), str(tmp_path), "--output", str(tmp_path / "new" / "p.csv")]) == 2
    assert "no model" in capsys.readouterr().err


@pytest.mark.slow
def test_interrupted_prediction_leaves_the_old_output_untouched_and_says_so(run, tmp_path, monkeypatch, capsys):
    import kasc.predict as predict_module

    out_csv = tmp_path / "pred.csv"
    out_csv.write_text("filename\tscene_label\nold_run.wav\tbus\n")
    real = predict_module.predict_all

    def stopped(predictor, files, names, rows, failed, windows=None):  # Ctrl-C after the first file
        real(predictor, files[:1], names, rows, failed, windows)
        raise KeyboardInterrupt

    monkeypatch.setattr(predict_module, "predict_all", stopped)
    assert predict_main([str(run.path), str(_audio_folder(tmp_path)), "--output", str(out_csv)]) == 130
    err = capsys.readouterr().err
    assert "interrupted by Ctrl-C (SIGINT) after 1 of 3 files" in err and "was not written" in err
    assert out_csv.read_text() == "filename\tscene_label\nold_run.wav\tbus\n"


@pytest.mark.slow
def test_damaged_model_files_are_reported_as_damaged(run, tmp_path, capsys):
    import shutil
    from pathlib import Path

    folder = tmp_path / "damaged_run"
    shutil.copytree(run.path, folder)
    keras_bytes = (folder / "model.keras").read_bytes()
    (folder / "model.keras").write_bytes(keras_bytes[: len(keras_bytes) // 2])
    (folder / "model_int8.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 8)
    audio = _audio_folder(tmp_path)
    for model in (folder, folder / "model_int8.tflite"):
        assert predict_main([str(model), str(audio)]) == 2
        err = capsys.readouterr().err
        assert "not a readable" in err and "cut short or damaged" in err and "not found" not in err.lower()


def test_smoothing_is_a_centred_median_that_ignores_one_odd_window():
    from kasc.deployment.timeline import smooth

    probs = np.array([[0.9, 0.1]] * 3 + [[0.1, 0.9]] + [[0.9, 0.1]] * 3 + [[0.2, 0.8]] * 4)
    smoothed = smooth(probs, 3)
    assert smoothed.argmax(axis=1).tolist() == [0] * 7 + [1] * 4  # the lone window is gone, the change stays
    np.testing.assert_allclose(smoothed.sum(axis=1), 1.0)
    np.testing.assert_array_equal(smooth(probs, 1), probs)


@pytest.mark.slow
def test_timeline_of_two_scenes_back_to_back_changes_label_at_the_join(run, tmp_path, monkeypatch, capsys):
    """A quiet scene for 5.5 s, then a loud one for 6.5 s; the model (made deterministic
    here: loud windows are 'park') must change label within one window of the join."""

    def by_loudness(self, windows):
        rms = np.sqrt(np.mean(np.square(windows), axis=1))
        park = 1.0 / (1.0 + np.exp(-(rms - 0.1) * 60.0))
        return np.stack([1.0 - park, park], axis=1)  # classes: bus, park

    monkeypatch.setattr(Predictor, "probabilities", by_loudness)
    rng = np.random.default_rng(0)
    rate = 16000
    audio = np.concatenate([rng.normal(0, 0.02, int(5.5 * rate)), rng.normal(0, 0.3, int(6.5 * rate))])
    sf.write(tmp_path / "two_scenes.wav", np.clip(audio, -1, 1), rate)
    csv, png = tmp_path / "timeline.csv", tmp_path / "timeline.png"
    assert predict_main([str(run.path), str(tmp_path / "two_scenes.wav"), "--timeline", str(csv),
                         "--timeline-plot", str(png), "--smooth", "3"]) == 0
    table = pd.read_csv(csv, sep="\t")  # tab-separated, as --output
    assert list(table.columns) == ["file", "start_s", "end_s", "label", "bus", "park"] and len(table) == 12
    assert table["start_s"].tolist() == [float(i) for i in range(12)] and table["end_s"].iloc[-1] == 12.0
    change = [i for i in range(1, 12) if table["label"][i] != table["label"][i - 1]]
    assert len(change) == 1 and abs(table["start_s"][change[0]] - 5.5) <= 1.0  # one change, at the join
    assert table["label"][0] == "bus" and table["label"].iloc[-1] == "park"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "median over 3 windows" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # --timeline-plot needs --timeline: argparse's usage error
        predict_main([str(run.path), str(tmp_path), "--timeline-plot", str(png)])
    assert "--timeline-plot needs --timeline CSV" in capsys.readouterr().err


@pytest.mark.slow
def test_a_long_recording_shows_a_progress_bar(run, tmp_path, monkeypatch, capsys):
    import kasc.deployment.predictor as predictor_module

    monkeypatch.setattr(predictor_module, "WINDOW_BATCH", 2)  # 5 windows: 3 batches, as an hour would be 15
    sf.write(tmp_path / "long.wav", np.random.default_rng(0).normal(0, 0.1, 5 * 16000), 16000)
    assert predict_main([str(run.path), str(tmp_path / "long.wav")]) == 0
    captured = capsys.readouterr()
    assert "5 windows" in captured.err and "long.wav" in captured.out


def test_an_output_that_would_replace_an_input_is_refused_before_any_work(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("x")
    (run / "model_int8.tflite").write_bytes(b"model")
    audio = tmp_path / "audio"
    audio.mkdir()
    (audio / "inp.wav").write_bytes(b"RIFF")
    (audio / "other.wav").write_bytes(b"RIFF")
    cases = [  # (arguments, what the one error line says)
        ([str(audio / "inp.wav"), "--output", str(audio / "inp.wav")], "is one of the audio files to label"),
        ([str(audio / "inp.wav"), str(audio / "other.wav"), "--output", str(audio / "other.wav")],  # a shell glob
         "is one of the audio files to label"),
        ([str(audio), "--output", str(audio / "inp.wav")], "is one of the audio files to label"),  # in a folder given
        ([str(audio), "--output", str(run / "model_int8.tflite")], "is a file of the model's run folder"),
        ([str(audio), "--timeline", str(tmp_path / "x.csv"), "--output", str(tmp_path / "x.csv")],
         "--output and --timeline name the same file"),
    ]
    for arguments, message in cases:
        assert predict_main([str(run), *arguments]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert (audio / "inp.wav").read_bytes() == b"RIFF" and (run / "model_int8.tflite").read_bytes() == b"model"
    assert not (tmp_path / "x.csv").exists()
    # a new file in the run folder is fine: the error is then the model (a dummy here), not the output
    assert predict_main([str(run), str(audio), "--output", str(run / "new.csv")]) == 2
    assert "run folder" not in capsys.readouterr().err


def test_a_model_foreign_to_its_run_folder_is_refused_in_one_line(tmp_path, capsys):
    import shutil
    from pathlib import Path

    import soundfile as sf

    from kasc.models import build_model

    committed = Path(__file__).resolve().parents[1] / "saved_models" / "us8k_student"  # 10 classes, 256 mel bands
    sf.write(tmp_path / "clip.wav", np.random.default_rng(0).normal(0, 0.1, 16000), 16000)
    for name, (mels, classes), message in (("three_classes", (256, 3), "predicts 3 classes, but its run names 10"),
                                           ("other_input", (64, 10), "takes log-mel of shape (None, 64, 1)")):
        run = tmp_path / name
        run.mkdir()
        for kept in ("config.yaml", "metrics.json"):
            shutil.copy(committed / kept, run / kept)
        build_model("serfr_cnn", (None, mels, 1), classes, width=4, head_channels=8).save(run / "model.keras")
        for extra in ([], ["--output", str(tmp_path / f"{name}.csv")]):
            assert predict_main([str(run), str(tmp_path / "clip.wav"), *extra]) == 2
            err = capsys.readouterr().err
            assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert not (tmp_path / f"{name}.csv").exists()


@pytest.mark.slow
def test_an_exported_model_changed_inside_is_refused_in_one_line(run, tmp_path, capsys):
    """2,000 bytes changed inside model_int8.tflite still load; the checksum its export recorded
    in model_export.json does not match, and predict and evaluate refuse it, naming the file."""
    import json

    from kasc.evaluation.inference import tflite_probabilities
    from kasc.export import main as export_main
    from kasc.files.checksums import ChecksumMismatch

    assert export_main([str(run.path), "--set", "data.allow_overlap=true", "--representative-clips", "2",
                        "--check-clips", "2"]) == 0
    model = run.path / "model_int8.tflite"
    record = json.loads((run.path / "model_export.json").read_text())
    assert record["int8"]["checksum"].startswith("blake2b:") and record["waveform_int8"]["checksum"]
    sf.write(tmp_path / "a.wav", np.random.default_rng(0).normal(0, 0.1, 16000), 16000)
    assert predict_main([str(model), str(tmp_path / "a.wav")]) == 0
    data = bytearray(model.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = bytes((b + 1) % 256 for b in data[middle:middle + 2000])
    model.write_bytes(bytes(data))
    capsys.readouterr()
    assert predict_main([str(model), str(tmp_path / "a.wav")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{model}: its content differs from the checksum recorded in" in err
    assert "model_export.json" in err and "export the run again" in err
    with pytest.raises(ChecksumMismatch, match="model_int8.tflite: its content differs from the checksum"):
        tflite_probabilities(model, data=None, logmel=None)  # kasc.evaluate's int8 scores: checked before any clip


@pytest.mark.slow
def test_long_files_are_predicted_block_by_block_as_if_decoded_whole(run, tmp_path, monkeypatch):
    """A file beyond LONG_FILE_SECONDS is decoded and predicted in blocks (memory flat in its
    length): the same windows and probabilities as decoding it whole, to int16 rounding at the
    resampler's block joins; --hop starts a window every hop seconds."""
    import kasc.deployment.predictor as predictor_module

    rng = np.random.default_rng(0)
    sf.write(tmp_path / "long.wav", rng.normal(0, 0.1, (int(12.5 * 44100), 2)), 44100)
    predictor = Predictor(run.path)
    whole = predictor.probabilities(predictor.decode_windows(tmp_path / "long.wav"))
    monkeypatch.setattr(predictor_module, "LONG_FILE_SECONDS", 5.0)
    monkeypatch.setattr(predictor_module, "BLOCK_SECONDS", 2.0)
    assert predictor.is_long(tmp_path / "long.wav")
    [(path, blocks, level)] = list(predictor.predict_files([tmp_path / "long.wav"], per_window=True))
    assert blocks.shape == whole.shape == (12, 2)
    np.testing.assert_allclose(blocks, whole, atol=2e-3)
    assert level == pytest.approx(predictor.decode(tmp_path / "long.wav")[1], abs=0.01)
    hopped = Predictor(run.path, hop_seconds=0.5)
    [(_, overlapping, _)] = list(hopped.predict_files([tmp_path / "long.wav"], per_window=True))
    assert overlapping.shape == (24, 2)  # 1 + (12.5 - 1) / 0.5 windows of 1 s
    np.testing.assert_allclose(overlapping[::2], whole, atol=2e-3)
    (tmp_path / "bad.wav").write_bytes(b"RIFF" + bytes(300))
    monkeypatch.setattr(predictor, "is_long", lambda path: True)
    [(_, error, _)] = list(predictor.predict_files([tmp_path / "bad.wav"]))
    assert isinstance(error, Exception) and "bad.wav" in str(error)
