"""``import kasc``: TensorFlow's start-up notes held back, kasc's layers registered with Keras."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_native_notes_are_held_back_and_everything_else_is_shown(capfd, monkeypatch):
    from kasc.startup import native_notes_held_back

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_notes_held_back():
        os.write(2, b"I0000 00:00:1.0 port.cc:153] oneDNN custom operations are on. You may see...\n")
        os.write(2, b"E0000 something kasc's user must see\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    err = capfd.readouterr().err
    assert err == "E0000 something kasc's user must see\n"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the user asks for everything
    with native_notes_held_back():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert "XNNPACK" in capfd.readouterr().err


@pytest.mark.slow
def test_import_kasc_then_keras_is_quiet_and_loads_kasc_models(tmp_path):
    from kasc.models import build_model

    path = tmp_path / "student.keras"
    build_model("serfr_cnn", (None, 32, 1), 3, width=4, head_channels=8).save(path)  # kasc's own layers inside
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    code = f"import kasc, keras; print(keras.models.load_model({str(path)!r}).count_params())"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) > 0
    assert "oneDNN custom operations" not in result.stderr and "absl::InitializeLog" not in result.stderr, result.stderr
    # and with Keras imported before kasc: registered at `import kasc`
    code = f"import keras, kasc; print(keras.models.load_model({str(path)!r}).count_params())"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
