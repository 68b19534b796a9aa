"""``train.strategy``: N mirrored replicas train what one device trains on the same global
batch (loss scaled per replica, batch normalisation synchronised), through the Distiller
with soft targets and through the training command. Logical CPU devices stand in for GPUs."""

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, tiny_config as _config

TOLERANCE = 2e-3
"""Largest weight difference accepted after 6 SGD steps, relative to the largest weight
change (float32 summation order; a missing 1/N loss scale gives about 1)."""

_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    from kasc.training.distribute import make_strategy, split_cpu
    split_cpu(2)
    import keras, tensorflow as tf
    from kasc.training.distill import Distiller
    from kasc.models import build_model
    from kasc.data.batch_keys import LABELS, SOFT_TARGETS
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 12, 16, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 24)]
    soft = tf.nn.softmax(rng.normal(size=(24, 3)).astype("float32")).numpy()
    out = {}
    for name, devices in (("default", ()), ("mirrored", ("/cpu:0", "/cpu:1"))):
        strategy = make_strategy(name, devices)
        with strategy.scope():
            keras.utils.set_random_seed(0)
            student = build_model("serfr_cnn", (None, 16, 1), 3, width=4, head_channels=8)
            distiller = Distiller(student, temperature=2.0, label_weight=0.5)
            # plain SGD: its step is proportional to the gradient, so a wrong loss scale shows
            # (Adam divides the scale out)
            initial = [np.asarray(w) for w in student.trainable_weights]
            distiller.compile(optimizer=keras.optimizers.SGD(0.01))
        data = tf.data.Dataset.from_tensor_slices((x, {LABELS: y, SOFT_TARGETS: soft})).batch(8)
        history = distiller.fit(data, epochs=2, verbose=0, shuffle=False).history
        out[name] = {"weights": [np.asarray(w) for w in student.trainable_weights], "initial": initial,
                     "history": history,
                     "replicas": strategy.num_replicas_in_sync,
                     "synchronized": [l.synchronized for l in student.layers if hasattr(l, "synchronized")]}
    a, b = out["default"], out["mirrored"]
    print(json.dumps({
        "replicas": [a["replicas"], b["replicas"]],
        "synchronized": [any(a["synchronized"]), all(b["synchronized"])],
        "max_weight_diff": max(float(np.abs(p - q).max()) for p, q in zip(a["weights"], b["weights"])),
        "max_update": max(float(np.abs(p - q).max()) for p, q in zip(a["weights"], a["initial"])),
        "history": [a["history"], b["history"]]}))
""")


@pytest.mark.slow
def test_two_mirrored_replicas_train_what_one_device_trains():
    result = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == [1, 2]
    assert out["synchronized"] == [False, True]  # BN synchronised only under several replicas
    assert out["max_update"] > 0.01  # the steps moved the weights
    assert out["max_weight_diff"] < TOLERANCE * out["max_update"], out
    one, two = out["history"]
    for key in ("loss", "label_loss", "distillation_loss"):
        assert one[key] == pytest.approx(two[key], rel=1e-4), key


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["", "train: {ema_momentum: 0.7}\n"], ids=["weights", "averaged_weights"])
def test_mirrored_training_command_matches_the_default_one(tiny_tau, tmp_path, extra):
    """Also with train.ema_momentum: the averages live in mirrored optimiser slots, swapped in
    for validation and written into the network at the end on every replica."""
    config = _config(tmp_path, "mirror", tiny_tau, extra)
    metrics = {}
    for strategy in ("default", "mirrored"):
        run = tmp_path / "runs" / strategy
        command = [sys.executable, "-m", "kasc.train", str(config), "--run-dir", str(run), "--verbose", "2",
                   "--strategy", strategy, "--split-cpu", "2"]
        if strategy == "mirrored":
            command += ["--set", "train.devices=[/cpu:0, /cpu:1]"]
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        metrics[strategy] = json.loads((run / "metrics.json").read_text())
    assert metrics["mirrored"]["log_loss"] == pytest.approx(metrics["default"]["log_loss"], rel=1e-3)
    assert metrics["mirrored"]["accuracy"] == metrics["default"]["accuracy"]


@pytest.mark.slow
def test_a_bfloat16_run_trains_exports_int8_and_passes_the_audit(tiny_tau, tmp_path):
    import keras

    from kasc.models import load_model

    config = _config(tmp_path, "bf16", tiny_tau, "train: {epochs: 2, batch_size: 4, warmup_epochs: 1, "
                     "decay_end_epoch: 2, export: true, mixed_precision: mixed_bfloat16}\n")
    run = tmp_path / "runs" / "bf16"
    result = subprocess.run([sys.executable, "-m", "kasc.train", str(config), "--run-dir", str(run), "--verbose", "2"],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    complexity = json.loads((run / "complexity.json").read_text())
    assert complexity["dcase2023_limits"]["within_limits"] and (run / "model_int8.tflite").is_file()
    assert "within_limits" not in complexity["int8"] and "within_limits" not in complexity["float32"]  # one verdict
    model = load_model(run / "model.keras")
    assert model.get_layer("conv1_conv").dtype_policy.name == "mixed_bfloat16"  # trained in bfloat16
    assert model.get_layer("logits").dtype_policy.name == "float32"  # logits and loss in float32
    assert keras.mixed_precision.global_policy().name == "float32"
    export = json.loads((run / "model_export.json").read_text())
    assert export["int8"]["mean_abs_prob_diff"] < 0.05  # int8 of the float32 network agrees with the bf16 model
    # the waveform-in model, checked on the validation clips, and the front end's cost in the audit
    assert (run / "model_waveform_int8.tflite").is_file() and export["waveform_int8"]["top1_agreement_decided"] >= 0.99
    assert complexity["front_end"]["macs_per_second"] > 0 and "waveform-in int8 TFLite" in result.stdout + result.stderr


def test_strategy_settings_are_checked():
    from kasc.config import ConfigError, load_config
    from kasc.training.distribute import StrategyError, make_strategy

    with pytest.raises(ConfigError, match="train.strategy must be one of default, mirrored, multi_worker, got 'ring'"):
        load_config("plain_student", ["train.strategy=ring"])
    with pytest.raises(ConfigError, match="train.mixed_precision must be one of none, mixed_float16, mixed_bfloat16"):
        load_config("plain_student", ["train.mixed_precision=fp8"])
    with pytest.raises(ConfigError, match="train.devices must be empty unless train.strategy is 'mirrored'"):
        load_config("plain_student", ["train.devices=[/gpu:0]"])
    with pytest.raises(StrategyError, match=r"train.devices: \['/gpu:7'\] not among this machine's devices"):
        make_strategy("mirrored", ("/gpu:7",))
