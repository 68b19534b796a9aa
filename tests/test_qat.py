"""Quantization-aware training: ``train.qat_epochs`` runs ``kasc.qat`` after a run, whose
int8 file passes the audit, agrees with its QAT Keras model and costs what the PTQ file
costs. (tfmot changes ``tf.keras`` process-wide, so QAT only ever runs in a child process.)"""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, tiny_config as _config


@pytest.mark.slow
def test_qat_stage_exports_an_audited_int8_file_equal_in_cost_to_ptq(tiny_tau, tmp_path):
    config = _config(tmp_path, "qat", tiny_tau, "train: {epochs: 2, batch_size: 4, warmup_epochs: 1, "
                     "decay_end_epoch: 2, export: true, qat_epochs: 1}\n")
    run = tmp_path / "runs" / "qat"
    command = [sys.executable, "-m", "kasc.train", str(config), "--run-dir", str(run), "--verbose", "2"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[kasc.qat]" in result.stdout and "DCASE 2023 limits PASS" in result.stdout
    qat = json.loads((run / "qat.json").read_text())
    assert (run / "model_qat_int8.tflite").is_file()
    assert qat["epochs"] == 1 and qat["twin_max_abs_prob_diff"] < 1e-4  # the tf_keras rebuild is the student
    for key in ("params", "param_bytes", "macs", "input_shape"):
        assert qat["qat_audit"][key] == qat["ptq_audit"][key], key  # same network, same int8 storage and MACs
    assert qat["dcase2023_limits"]["within_limits"]
    agreement = qat["qat_int8_vs_qat_keras"]
    assert agreement["clips"] == 4 and agreement["mean_abs_prob_diff"] < 0.03 and agreement["max_abs_prob_diff"] < 0.1
    assert all(qat[part]["clips"] == 4 for part in ("float32", "ptq_int8", "qat_keras", "qat_int8"))

    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and "QAT already done" in again.stdout  # not repeated


def test_qat_settings_are_checked():
    from kasc.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="train.qat_epochs must be 0 when train.export is false"):
        load_config("plain_student", ["train.qat_epochs=2", "train.export=false"])
    with pytest.raises(ConfigError, match="train.qat_learning_rate must be > 0"):
        load_config("plain_student", ["train.qat_learning_rate=0"])
