"""Fine-tuning a pretrained network keeps what it knows: with ``train.batchnorm`` frozen (the
default when ``train.init_from`` is set) the first fine-tuning step leaves a head-only
(probe) model's predictions where they were; with batch statistics it does not."""

import keras
import numpy as np
import pytest

from kasc.config import ConfigError, load_config
from kasc.training.distill import Distiller
from kasc.training.network import batchnorm_frozen, freeze_batchnorm, init_from
from kasc.data.batch_keys import LABELS

CLASSES = 4


def _probe(tmp_path):
    """A tiny EfficientAT network whose features stand for AudioSet's: batch-norm running
    statistics far from the statistics of the batches it will be fine-tuned on."""
    from kasc.models.efficientat import build_efficientat_mn

    keras.utils.set_random_seed(0)
    model = build_efficientat_mn((24, 32, 1), CLASSES, width=0.1, dropout=0.0, freeze_features=True)
    rng = np.random.default_rng(0)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 2, mean.shape).astype("float32"),
                               rng.uniform(4, 9, variance.shape).astype("float32")])
    path = tmp_path / "probe.keras"
    model.save(path)
    return path


def _fine_tune_one_step(probe_path, batchnorm: str):
    """The probe's predictions (inference mode) before fine-tuning, what the first
    fine-tuning step's forward pass computes (training mode), and the predictions after that
    step, with every layer trainable, as ``kasc.training.fitting.build_distiller`` sets it up."""
    from kasc.models.efficientat import build_efficientat_mn

    model = build_efficientat_mn((24, 32, 1), CLASSES, width=0.1, dropout=0.0)
    init_from(model, str(probe_path))
    if batchnorm_frozen(batchnorm, initialised=True):
        assert freeze_batchnorm(model) > 0
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (8, 24, 32, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, CLASSES, 8), CLASSES)
    before = model.predict(x, verbose=0)
    in_step = keras.ops.convert_to_numpy(model(x, training=True))
    distiller = Distiller(model, label_weight=1.0)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-6))
    distiller.fit(x, {LABELS: y}, batch_size=8, epochs=1, verbose=0)
    return before, in_step, model.predict(x, verbose=0)


@pytest.mark.slow
def test_first_fine_tuning_step_keeps_the_probes_predictions(tmp_path):
    probe = _probe(tmp_path)
    before, in_step, after = _fine_tune_one_step(probe, "auto")
    np.testing.assert_allclose(in_step, before, atol=1e-5)
    np.testing.assert_allclose(after, before, atol=1e-3)
    # batch statistics instead: the step trains a network that predicts something else
    before, in_step, after = _fine_tune_one_step(probe, "trained")
    assert np.abs(in_step - before).max() > 0.05


def test_batchnorm_setting_freezes_pretrained_starts_by_default():
    assert batchnorm_frozen("auto", initialised=True)
    assert not batchnorm_frozen("auto", initialised=False)
    assert batchnorm_frozen("frozen", initialised=False)
    assert not batchnorm_frozen("trained", initialised=True)
    with pytest.raises(ConfigError, match="train.batchnorm"):
        load_config("plain_student", ["train.batchnorm=sometimes"])
