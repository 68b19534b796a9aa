import json

import keras
import numpy as np
import pytest

from kasc.complexity.costs import audit_keras, audit_tflite, format_table
from kasc.complexity.limits import DCASE2023_MAX_MACS, DCASE2023_MAX_PARAM_BYTES
from kasc.complexity.__main__ import main as complexity_main
from kasc.deployment.conversion import to_tflite
from kasc.models import build_model

MOBILENETV2_PUBLISHED_MACS = 300e6  # Sandler et al. 2018, Table 3 (224 x 224, width 1.0)
MOBILENETV2_KERAS_PARAMS = 3_538_984  # keras.applications documentation


def test_mobilenetv2_figures_match_published():
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
    audit = audit_keras(model, (224, 224, 3))
    assert audit.params == model.count_params() == MOBILENETV2_KERAS_PARAMS
    assert abs(audit.macs - MOBILENETV2_PUBLISHED_MACS) / MOBILENETV2_PUBLISHED_MACS < 0.02
    assert audit.param_bytes == 4 * audit.params


def test_hand_counted_tiny_model():
    inputs = keras.Input((6, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c")(inputs)           # 6*8*4 * 9*1 = 1728
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="d")(x)          # 6*8*4 * 9 = 1728
    x = keras.layers.LayerNormalization(name="ln")(x)
    x = keras.layers.GlobalAveragePooling2D(name="g")(x)
    x = keras.layers.Dense(3, name="f")(x)                                    # 4*3 = 12
    audit = audit_keras(keras.Model(inputs, x), (6, 8, 1))
    assert audit.macs == 1728 + 1728 + 12
    assert audit.params == (9 * 4 + 4) + (9 * 4 + 4) + 8 + (4 * 3 + 3)
    assert "LayerNormalization" in audit.not_counted  # listed, never dropped
    assert "LayerNormalization" in format_table(audit)


@pytest.mark.slow
@pytest.mark.parametrize("width", [32, 24])
def test_serfr_int8_tflite_within_dcase2023_limits(width, tmp_path):
    model = build_model("serfr_cnn", (None, 256, 1), 10, width=width)
    representative = np.random.default_rng(0).normal(-6, 3, (8, 28, 256, 1)).astype(np.float32)
    path = tmp_path / "m.tflite"
    path.write_bytes(to_tflite(model, (28, 256, 1), representative))
    audit = audit_tflite(path)
    assert audit.within_limits
    assert audit.param_bytes <= DCASE2023_MAX_PARAM_BYTES and audit.macs <= DCASE2023_MAX_MACS
    assert audit.macs == audit_keras(model).macs  # both counters agree
    assert audit.param_bytes < 1.2 * audit.params  # int8 weights: about one byte each
    assert {"CONV_2D", "FULLY_CONNECTED"} <= {layer.kind for layer in audit.layers}


def test_cli_json_keys(tmp_path, capsys):
    model = build_model("serfr_cnn", (None, 256, 1), 10, width=8)
    model.save(tmp_path / "m.keras")
    assert complexity_main([str(tmp_path / "m.keras"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"params", "param_bytes", "macs", "dcase2023_limits"} <= set(report) and "within_limits" not in report
    assert report["dcase2023_limits"]["within_limits"] and report["dcase2023_limits"]["macs_per_second"] == report["macs"]
    assert report["input_shape"] == [28, 256, 1] and report["params"] == model.count_params()
    assert complexity_main([str(tmp_path / "m.keras"), "--input-shape", "313,256,1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["macs"] > 10 * report["macs"]
    assert complexity_main([str(tmp_path / "nothere.keras")]) == 2
    assert "model file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_the_cli_gives_the_runs_one_verdict_per_second_of_audio(tmp_path, capsys):
    """A 4 s student's int8 file holds about 4 s of MACs; the CLI's verdict is per 1 s, as
    the run's complexity.json, which holds one within_limits."""
    import shutil

    from tests.conftest import REPO

    source = REPO / "saved_models" / "us8k_student"
    if not (source / "model_int8.tflite").is_file():
        pytest.skip("the committed UrbanSound8K student is not there")
    run = tmp_path / "run"
    shutil.copytree(source, run)
    assert complexity_main([str(run / "model_int8.tflite")]) == 0
    out = capsys.readouterr().out
    assert "DCASE 2023 limits, per 1 s of audio (28 frames (1 s)): 63,536 parameter bytes, 11,830,272 MACs: PASS" in out
    assert out.count("PASS") == 1 and "FAIL" not in out
    # outside a run folder: the input is taken as 1 s unless told
    shutil.copy(run / "model_int8.tflite", tmp_path / "bare.tflite")
    assert complexity_main([str(tmp_path / "bare.tflite"), "--seconds", "4"]) == 0
    assert "taken as 4 s" in capsys.readouterr().out
