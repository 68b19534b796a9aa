import numpy as np
import pytest
import soundfile as sf

from kasc.data.audio import AudioReadError, load_clip, read_audio
from tests.conftest import write_tone

REAL_CLIPS = {  # file -> seconds
    "airport-barcelona-0-0-a_tau20_float32_1s.wav": 1.0,
    "airport-lisbon-1000-40000-0-a_tau22_pcm24_1s.wav": 1.0,
    "metro_station-paris_44k1_mono_pcm24_10s.wav": 10.0,
    "park_48k_stereo_pcm24_10s.wav": 10.0,
    "street_44k1_stereo_pcm16_10s.wav": 10.0,
}


@pytest.mark.parametrize("name,seconds", sorted(REAL_CLIPS.items()))
def test_real_clip_decodes_to_mono_16k_of_its_duration(real_clips, name, seconds):
    path = real_clips / name
    info = sf.info(str(path))
    samples, rate = read_audio(path)
    assert samples.ndim == 1 and samples.dtype == np.float32
    assert samples.shape[0] == info.frames and abs(info.frames / info.samplerate - seconds) < 0.01
    clip = load_clip(path, 16000, int(seconds * 16000))
    assert clip.shape == (int(seconds * 16000),)
    # resampling must keep the signal: the RMS stays within 10 % (content is broadband)
    assert np.sqrt(np.mean(clip**2)) == pytest.approx(np.sqrt(np.mean(samples**2)), rel=0.1)
    assert 0 < np.abs(clip).max() <= 1.0


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "FLOAT"])
def test_encodings_and_stereo_downmix(tmp_path, subtype):
    ext = "wav"
    data = write_tone(tmp_path / f"x.{ext}", seconds=0.5, rate=22050, channels=2, subtype=subtype)
    samples, rate = read_audio(tmp_path / f"x.{ext}")
    assert rate == 22050
    np.testing.assert_allclose(samples, data.mean(axis=1), atol=2e-2 if subtype == "PCM_U8" else 1e-4)


def test_flac_and_padding(tmp_path):
    write_tone(tmp_path / "x.flac", seconds=0.5, rate=22050, subtype="PCM_16")
    clip = load_clip(tmp_path / "x.flac", 16000, 16000)
    assert clip.shape == (16000,)
    assert np.abs(clip[:7900]).max() > 0.3 and np.all(clip[8100:] == 0)


def test_segments_are_concatenated(tmp_path):
    a = write_tone(tmp_path / "a.wav", 1.0, 16000, 300.0)[:, 0]
    b = write_tone(tmp_path / "b.wav", 1.0, 16000, 500.0)[:, 0]
    clip = load_clip([tmp_path / "a.wav", tmp_path / "b.wav"], 16000, 32000)
    np.testing.assert_allclose(clip, np.concatenate([a, b]), atol=1e-6)


def test_missing_file(tmp_path):
    with pytest.raises(AudioReadError, match=r"nothere.wav: file not found"):
        read_audio(tmp_path / "nothere.wav")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioReadError, match=r"empty.wav: file is empty"):
        read_audio(tmp_path / "empty.wav")


def test_not_audio(tmp_path):
    (tmp_path / "text.wav").write_text("this is not audio at all " * 20)
    with pytest.raises(AudioReadError, match=r"text.wav: not a readable audio file"):
        read_audio(tmp_path / "text.wav")


def test_truncated_wav(tmp_path):
    write_tone(tmp_path / "full.wav", 1.0, 16000, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioReadError, match=r"cut.wav: truncated WAV"):
        read_audio(tmp_path / "cut.wav")


def test_header_only(tmp_path):
    write_tone(tmp_path / "full.wav", 1.0, 16000, subtype="PCM_16")
    (tmp_path / "head.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:30])
    with pytest.raises(AudioReadError, match=r"head.wav"):
        read_audio(tmp_path / "head.wav")


@pytest.mark.parametrize("fill", [np.nan, np.inf])
def test_non_finite_samples_are_an_error_naming_the_file(tmp_path, fill):
    path = tmp_path / "broken_float.wav"
    samples = np.full(1600, 0.1, np.float32)
    samples[100:110] = fill
    sf.write(path, samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match=r"broken_float.wav: 10 of 1600 samples are NaN or infinite"):
        read_audio(path)
    all_nan = tmp_path / "all_nan.wav"
    sf.write(all_nan, np.full(1600, np.nan, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="all_nan.wav: 1600 of 1600 samples are NaN"):  # not "digital silence"
        load_clip(all_nan, 16000, 16000)
