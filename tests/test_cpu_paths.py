"""oneDNN and Eigen (TensorFlow's two CPU kernel libraries) give the same probabilities
for the same weights. TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` when it is imported, so
each path runs in a process of its own."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

PATH_TOLERANCE = 1e-4
"""Largest absolute probability difference, and largest logit difference relative to the
largest logit, allowed between the two paths (float32 round-off in another summation
order; the measured differences are printed)."""

MODELS = {
    "serfr_cnn": {"width": 8},
    "mobilenetv2": {"alpha": 0.35},
    "cnn_teacher": {"width": 4},
    "bc_resnet": {"scale": 1},
}

_RUN = """
import json, sys
import numpy as np
import keras
from kasc.models import load_model, logits_model
x = np.load(sys.argv[1])
out = {}
for name in json.loads(sys.argv[2]):
    model = load_model(sys.argv[3] + '/' + name + '.keras')
    out[name] = [np.asarray(model(x, training=False)).tolist(), np.asarray(logits_model(model)(x)).tolist()]
    model.compile(optimizer='adam', loss='categorical_crossentropy')
    model.train_on_batch(x, np.eye(5, dtype=np.float32)[np.arange(len(x)) % 5])  # a training step runs too
print(json.dumps(out))
"""
ONEDNN_BANNER = "oneDNN custom operations are on"  # TensorFlow's start-up line when oneDNN is in use


def _probabilities(onednn: str, x_path, models_dir) -> dict:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "0", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", _RUN, str(x_path), json.dumps(sorted(MODELS)), str(models_dir)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (ONEDNN_BANNER in result.stderr) == (onednn == "1"), "the process did not take the CPU path asked for"
    return {name: [np.array(v) for v in values] for name, values in json.loads(result.stdout.strip().splitlines()[-1]).items()}


@pytest.mark.slow
def test_same_weights_same_probabilities_with_onednn_and_eigen(tmp_path):
    import keras

    from kasc.models import build_model

    keras.utils.set_random_seed(0)
    for name, params in MODELS.items():
        build_model(name, (None, 64, 1), 5, **params).save(tmp_path / f"{name}.keras")
    x = np.random.default_rng(0).standard_normal((4, 40, 64, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    eigen = _probabilities("0", tmp_path / "x.npy", tmp_path)
    onednn = _probabilities("1", tmp_path / "x.npy", tmp_path)
    for name in MODELS:
        (p_eigen, z_eigen), (p_onednn, z_onednn) = eigen[name], onednn[name]
        assert p_eigen.shape == z_eigen.shape == (4, 5)
        probability = float(np.abs(p_eigen - p_onednn).max())
        logit = float(np.abs(z_eigen - z_onednn).max() / np.abs(z_eigen).max())
        print(f"{name}: oneDNN vs Eigen, largest probability difference {probability:.1e}, "
              f"largest logit difference {logit:.1e} of the largest logit")
        assert probability <= PATH_TOLERANCE and logit <= PATH_TOLERANCE, name
