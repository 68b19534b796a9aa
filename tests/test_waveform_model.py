"""The waveform-in TFLite model: the front end in the graph, the int8 network unchanged."""

import json

import keras
import numpy as np
import pytest

from kasc.config import FeatureConfig
from kasc.data.features import LogMel, mel_filterbank, sparse_filterbank
from kasc.deployment.waveform_model import (WaveformExportError, check_waveform_model, front_end_cost, front_end_tflite,
                                 join_tflite)

RATE, SAMPLES = 16000, 4096
TINY = FeatureConfig(n_fft=256, hop_samples=128, n_mels=16, normalize_mean=-4.0, normalize_std=3.0)
EFFICIENTAT_LIKE = FeatureConfig(n_fft=256, hop_samples=80, n_mels=16, win_samples=200, window="hann_symmetric",
                                 center=True, preemphasis=0.97, mel_scale="kaldi", fmax_hz=7000.0, log_offset=1e-5)


def _waveforms(n, seed=0):
    """Clips with their energy in a low or high band, a few of them loud."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES) / RATE
    freqs = rng.choice([300.0, 5000.0], n)
    tones = np.sin(2 * np.pi * freqs[:, None] * t) * rng.uniform(0.05, 0.9, (n, 1))
    return (tones + rng.normal(0, 0.01, (n, SAMPLES))).clip(-1, 1).astype(np.float32), (freqs > 1000).astype(int)


@pytest.mark.parametrize("scale", ["report", "kaldi"])
def test_the_sparse_filter_bank_is_the_dense_one(scale):
    bank = mel_filterbank(RATE, 2048, 256, scale=scale)
    indices, weights = sparse_filterbank(bank)
    assert indices.shape[0] <= 2  # triangles with adjacent edges: a bin feeds at most two filters
    x = np.random.default_rng(0).uniform(0, 5, (3, bank.shape[0])).astype(np.float32)
    scattered = np.zeros((3, bank.shape[1]), np.float32)
    for m in range(len(indices)):
        np.add.at(scattered.T, indices[m], (x * weights[m]).T)
    np.testing.assert_allclose(scattered, x @ bank, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("features", [TINY, EFFICIENTAT_LIKE], ids=["report", "efficientat"])
def test_the_tflite_front_end_is_kascs_front_end(features, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from kasc.deployment.litert_runner import run_tflite

    flatbuffer = front_end_tflite(features, RATE, SAMPLES)
    (tmp_path / "fe.tflite").write_bytes(flatbuffer)
    ops = {op["op_name"] for op in Interpreter(model_path=str(tmp_path / "fe.tflite"))._get_ops_details()}
    assert not any(op.startswith("FLEX") or op == "CUSTOM" for op in ops), ops  # builtins only: no TF select ops
    waveforms, _ = _waveforms(3)
    np.testing.assert_allclose(run_tflite(flatbuffer, waveforms), LogMel(features, RATE)(waveforms).numpy(),
                               rtol=1e-4, atol=2e-4)


@pytest.fixture(scope="module")
def trained_int8():
    """A tiny SERFR-CNN that learned the two bands, its int8 flatbuffer, the front end."""
    from kasc.deployment.conversion import to_tflite
    from kasc.models import build_model

    keras.utils.set_random_seed(0)
    logmel = LogMel(TINY, RATE)
    waveforms, labels = _waveforms(160)
    spectra = logmel(waveforms).numpy()
    model = build_model("serfr_cnn", (None, TINY.n_mels, 1), 2, width=4, head_channels=8)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(spectra, labels, epochs=6, batch_size=16, verbose=0)
    return model, to_tflite(model, spectra.shape[1:], representative=spectra[:64]), logmel


def test_joined_model_keeps_the_network_bytes_and_matches_it_on_waveforms(trained_int8, tmp_path):
    from tensorflow.lite.tools import flatbuffer_utils

    from kasc.deployment.litert_runner import TFLiteModel

    _, network, logmel = trained_int8
    joined = join_tflite(front_end_tflite(TINY, RATE, SAMPLES), network)
    before = flatbuffer_utils.convert_bytearray_to_object(bytearray(network))
    after = flatbuffer_utils.convert_bytearray_to_object(bytearray(joined))
    ng, jg = before.subgraphs[0], after.subgraphs[0]
    # every network buffer, tensor quantisation and operator as it was; the front end's ops run first
    for i, buffer in enumerate(before.buffers):
        if i not in {m.buffer for m in before.metadata}:
            assert np.array_equal(np.asarray(buffer.data), np.asarray(after.buffers[i].data)), i
    for a, b in zip(ng.tensors, jg.tensors):
        assert a.type == b.type and list(a.shape) == list(b.shape)
        if a.quantization is not None and a.quantization.scale is not None:
            assert np.array_equal(a.quantization.scale, b.quantization.scale)
    tail = jg.operators[len(jg.operators) - len(ng.operators):]
    assert [(list(o.inputs), list(o.outputs)) for o in tail] == [(list(o.inputs), list(o.outputs)) for o in ng.operators]
    model = TFLiteModel(joined)
    assert list(model.input["shape"]) == [1, SAMPLES] and model.input["dtype"] == np.float32
    assert list(model.output["shape"]) == [1, 2]
    # the network's serving signature now takes the waveform
    assert model.interpreter.get_signature_list() == {"serving_default": {"inputs": ["waveform"],
                                                                         "outputs": ["output_0"]}}
    waveforms, labels = _waveforms(40, seed=1)
    record = check_waveform_model(joined, network, waveforms, logmel, RATE)
    print(record)
    assert record["top1_agreement"] >= 0.99 and record["max_abs_prob_diff"] < 0.05
    assert (model(waveforms).argmax(1) == labels).mean() > 0.9  # and it really classifies
    assert set(record["probes"]) == {"silence", "white_noise", "tone_1khz"}
    assert all(np.isfinite(p).all() and abs(sum(p) - 1) < 0.02 for p in record["probes"].values())
    json.dumps(record)  # written into the export record


def test_the_complexity_command_says_what_a_waveform_file_counts(trained_int8, tmp_path, capsys):
    from kasc.complexity.__main__ import main as complexity_main

    _, network, _ = trained_int8
    (tmp_path / "model_waveform_int8.tflite").write_bytes(join_tflite(front_end_tflite(TINY, RATE, SAMPLES), network))
    assert complexity_main([str(tmp_path / "model_waveform_int8.tflite")]) == 0
    out = capsys.readouterr().out
    assert "RFFT2D" in out and "DCASE counts the network alone" in out


def test_a_front_end_that_differs_fails_the_check(trained_int8):
    import dataclasses

    _, network, logmel = trained_int8
    wrong = dataclasses.replace(TINY, normalize_mean=TINY.normalize_mean + 3.0)  # a mismatch a device could make
    joined = join_tflite(front_end_tflite(wrong, RATE, SAMPLES), network)
    with pytest.raises(WaveformExportError, match="differs from the int8 network"):
        check_waveform_model(joined, network, _waveforms(40, seed=1)[0], logmel, RATE)


def test_a_front_end_of_another_shape_is_refused(trained_int8):
    _, network, _ = trained_int8
    with pytest.raises(ValueError, match=r"front end gives shape \[1, 49, 16, 1\].*network takes \[1, 31, 16, 1\]"):
        join_tflite(front_end_tflite(TINY, RATE, 6400), network)


def test_front_end_cost_counts_per_second():
    cost = front_end_cost(FeatureConfig(), RATE, front_end_bytes=1000)
    assert cost["frames_per_second"] == 28 and cost["param_bytes"] == 1000
    per_frame = cost["macs_per_frame"]
    assert per_frame["window"] == 2048 and per_frame["fft"] == 2 * 2048 * 11 and per_frame["mel"] < 2 * 1025
    assert cost["macs_per_second"] == 28 * sum(per_frame.values())


def test_the_readme_deploy_example_runs_on_a_committed_student(tmp_path, monkeypatch, capsys):
    """The LiteRT example README's "Deploy" links to (docs/export.md), as printed, on a real
    UrbanSound8K clip."""
    import re
    from pathlib import Path

    from tests.conftest import shared_path

    repo = Path(__file__).resolve().parents[1]
    model = repo / "saved_models/us8k_student/model_waveform_int8.tflite"
    if not model.is_file():
        pytest.skip(f"{model} is not in this checkout")
    import soundfile as sf

    clip = sorted(shared_path("us8k-dev", "audio", "fold2").glob("*.flac"))[0]
    assert "docs/export.md#the-waveform-model-on-a-device" in (repo / "README.md").read_text()
    page = (repo / "docs" / "export.md").read_text()
    example = re.search(r"## The waveform model on a device\n.*?```python\n(.*?)```", page, re.S).group(1)
    assert len(example.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    (tmp_path / "saved_models").symlink_to(repo / "saved_models")
    samples, rate = sf.read(clip)
    sf.write(tmp_path / "clip.wav", samples, rate)  # a real clip, as the WAV file the example reads
    exec(compile(example, "docs/export.md", "exec"), {})
    probabilities = np.array(capsys.readouterr().out.strip("[] \n").split(), float)
    assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 0.02
