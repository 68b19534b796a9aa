import numpy as np
import pytest
import keras

from kasc.models import build_model, load_pretrained, logits_model
from kasc.models.layers import SubSpectralNorm

FRAMES_1S, FRAMES_10S = 28, 313
MODELS = {
    "serfr_cnn": {"width": 8},
    "mobilenetv2": {"alpha": 0.35},
    "cnn_teacher": {"width": 4},
    "bc_resnet": {"scale": 1},
}


def _x(frames, mels=64, n=2):
    return np.random.default_rng(0).standard_normal((n, frames, mels, 1)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_for_1s_and_10s(name):
    model = build_model(name, (None, 64, 1), 5, **MODELS[name])
    for frames in (FRAMES_1S, FRAMES_10S):
        probs = model(_x(frames), training=False).numpy()
        assert probs.shape == (2, 5)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert logits_model(model)(_x(FRAMES_1S)).shape == (2, 5)


def test_serfr_full_size_shapes():
    for width in (32, 24):
        model = build_model("serfr_cnn", (None, 256, 1), 10, width=width)
        assert model(_x(FRAMES_1S, 256)).shape == (2, 10)
        assert model.get_layer("conv1_conv").filters == width


def test_baseline_shape():
    model = build_model("dcase2023_baseline", (51, 40, 1), 10)
    assert model(_x(51, 40)).shape == (2, 10)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_save_load_round_trip(name, tmp_path):
    model = build_model(name, (None, 64, 1), 5, **MODELS[name])
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = _x(FRAMES_1S)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-6)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_mobilenetv2_matches_keras_applications():
    from kasc.complexity.costs import audit_keras
    ours = build_model("mobilenetv2", (224, 224, 3), 1000, dropout=0.0)
    reference = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
    assert ours.count_params() == reference.count_params()
    assert audit_keras(ours, (224, 224, 3)).macs == audit_keras(reference, (224, 224, 3)).macs


def test_sub_spectral_norm_config_round_trip_and_per_band_stats():
    layer = SubSpectralNorm(4, name="ssn")
    clone = SubSpectralNorm.from_config(layer.get_config())
    assert clone.sub_bands == 4 and clone.name == "ssn"
    x = np.zeros((8, 3, 16, 2), np.float32)
    x[:, :, :4] = 10.0  # first sub-band has another mean than the rest
    x += np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    y = layer(x, training=True).numpy()
    for band in range(4):
        assert abs(y[:, :, band * 4:(band + 1) * 4].mean()) < 0.1  # each band normalised on its own
    with pytest.raises(ValueError, match="not divisible into 4 sub-bands"):
        SubSpectralNorm(4)(np.zeros((1, 2, 10, 1), np.float32))


def test_load_pretrained_from_local_file(tmp_path):
    source = build_model("mobilenetv2", (None, 64, 1), 7, alpha=0.35)
    source.save(tmp_path / "pretrained.keras")
    target = build_model("mobilenetv2", (None, 64, 1), 5, alpha=0.35)
    result = load_pretrained(target, tmp_path / "pretrained.keras")
    assert "logits" in result["skipped"] and len(result["loaded"]) > 100
    np.testing.assert_array_equal(target.get_layer("stem_conv").get_weights()[0],
                                  source.get_layer("stem_conv").get_weights()[0])
    with pytest.raises(FileNotFoundError, match="not found"):
        load_pretrained(target, tmp_path / "missing.keras")
    other = build_model("dcase2023_baseline", (51, 40, 1), 5)
    with pytest.raises(ValueError, match="no layer matches"):
        load_pretrained(other, tmp_path / "pretrained.keras")


def test_weights_are_copied_by_path_in_nested_models_and_shape_mismatches_are_named():
    import keras

    from kasc.models.pretrained import copy_matching_weights

    def member(name, classes, seed):
        keras.utils.set_random_seed(seed)
        return build_model("serfr_cnn", (None, 32, 1), classes, width=4, head_channels=8, name=name)

    def nested(members):  # the members side by side inside one model (as an ensemble would hold them)
        inputs = keras.Input((None, 32, 1))
        outputs = [m(inputs) for m in members]
        return keras.Model(inputs, outputs[0] if len(outputs) == 1 else keras.layers.Average()(outputs))

    source = nested([member("a", 5, 1), member("b", 5, 2)])
    target = nested([member("a", 3, 3), member("b", 3, 4)])
    result = copy_matching_weights(target, source)
    assert sorted(result["skipped"]) == ["a/logits", "b/logits"]  # 5 classes there, 3 here: kept fresh
    for name in ("a", "b"):  # each member from its namesake, not both from one
        np.testing.assert_array_equal(target.get_layer(name).get_layer("conv1_conv").get_weights()[0],
                                      source.get_layer(name).get_layer("conv1_conv").get_weights()[0])
    assert not np.array_equal(target.get_layer("a").get_layer("conv1_conv").get_weights()[0],
                              target.get_layer("b").get_layer("conv1_conv").get_weights()[0])
    # a top-level network from the same network nested in another: matched by unique bare names
    plain = member("plain", 5, 5)
    loaded = copy_matching_weights(plain, nested([member("only", 5, 6)]))["loaded"]
    assert "conv1_conv" in loaded and "logits" in loaded
    # ambiguous bare names (two members) are not guessed
    assert copy_matching_weights(member("x", 5, 7), source)["loaded"] == []


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet", (None, 64, 1), 5)


def _settles(layer_config: dict, layer_class, input_shape: tuple, passes: int = 60) -> bool:
    """A fresh copy of a normalisation layer, fed ``passes`` training-mode batches far from
    its initial statistics (mean 0.5, std 0.2): does inference mode then normalise like
    training mode (output mean and standard deviation within 3 %)?"""

    layer = layer_class.from_config(layer_config)
    x = np.random.default_rng(0).normal(0.5, 0.2, input_shape).astype("float32")
    for _ in range(passes):
        trained = np.asarray(layer(x, training=True))
    inferred = np.asarray(layer(x, training=False))
    return (abs(float(inferred.std()) / float(trained.std()) - 1.0) < 0.03
            and abs(float(inferred.mean()) - float(trained.mean())) < 0.03 * float(trained.std()))


@pytest.mark.parametrize("name", ["serfr_cnn", "bc_resnet", "cnn_teacher", "mobilenetv2", "dcase2023_baseline"])
def test_inference_statistics_settle_within_a_few_dozen_steps(name):
    """Every normalisation layer of the network, copied with its own config onto its own
    input shape, settles within 60 training-mode passes: inference then normalises like
    training. (With Keras' default momentum 0.99 the initial moving variance of 1 still
    weighs 55 % after 60 steps, and a BC-ResNet teacher whose inner activations have a
    variance near 0.03 predicted one class for everything; the same check fails then.)"""
    from keras import layers

    from kasc.models import build_model
    from kasc.models.layers import SubSpectralNorm

    shape = (51, 40, 1) if name == "dcase2023_baseline" else (None, 32, 1)
    model = build_model(name, shape, 3)
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, (layers.BatchNormalization, SubSpectralNorm))]
    assert norms, name
    checked = set()
    for layer in norms:
        try:
            input_shape = (8,) + tuple(10 if d is None else d for d in layer.input.shape[1:])
        except AttributeError:  # a layer inside another one (SubSpectralNorm's BatchNormalization): checked with it
            continue
        key = (type(layer).__name__, input_shape, layer.momentum)
        if key in checked:
            continue
        checked.add(key)
        config = layer.get_config()
        assert _settles(config, type(layer), input_shape), f"{name}: {layer.name} does not settle"
        assert not _settles({**config, "momentum": 0.99}, type(layer), input_shape), "the check cannot fail"
    print(f"{name}: {len(checked)} distinct normalisation layers checked")


def _same_padded_depthwise_along_mels(x, kernel, stride):
    """numpy reference of DepthwiseConv2D((1, k), strides=(1, s), padding='same'):
    TensorFlow's 'same' padding puts floor(pad/2) before and the rest after."""
    k, mels = kernel.shape[1], x.shape[2]
    out = -(-mels // stride)
    pad = max((out - 1) * stride + k - mels, 0)
    padded = np.pad(x, ((0, 0), (0, 0), (pad // 2, pad - pad // 2), (0, 0)))
    taps = kernel[0, :, :, 0]  # (k, channels)
    return np.stack([(padded[:, :, i * stride:i * stride + k, :] * taps).sum(axis=2) for i in range(out)], axis=2)


@pytest.mark.parametrize("mels, stride", [(16, 2), (15, 2), (16, 1)])
def test_frequency_depthwise_conv_matches_strided_depthwise_definition(mels, stride):
    from kasc.models.layers import FrequencyDepthwiseConv2D

    layer = FrequencyDepthwiseConv2D(3, strides=stride, use_bias=False)
    x = np.random.default_rng(1).standard_normal((2, 5, mels, 3)).astype(np.float32)
    y = layer(x).numpy()
    assert layer.kernel.shape == (1, 3, 3, 1)
    assert y.shape == (2, 5, -(-mels // stride), 3)
    np.testing.assert_allclose(y, _same_padded_depthwise_along_mels(x, layer.kernel.numpy(), stride), atol=1e-5)
    clone = FrequencyDepthwiseConv2D.from_config(layer.get_config())
    assert clone.kernel_size == (1, 3) and clone.strides == (1, stride)


def test_bc_resnet_counts_unchanged_by_the_frequency_stride_rewrite():
    """The frequency-strided depthwise convs were DepthwiseConv2D((1, 3), strides=(1, 2)),
    which TensorFlow's Eigen kernels refuse; these totals were audited on that version."""
    from kasc.complexity.costs import audit_keras

    for scale, params, macs in ((1, 10_846, 2_338_992), (2, 30_514, 6_770_144)):
        audit = audit_keras(build_model("bc_resnet", (None, 256, 1), 10, scale=scale), (28, 256, 1))
        assert (audit.params, audit.macs) == (params, macs)


@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_norm_matches_keras_batch_norm(training):
    """Same outputs, gradients and moving statistics as keras.layers.BatchNormalization."""
    import tensorflow as tf

    from kasc.models.layers import FusedBatchNormalization

    x = tf.constant(np.random.default_rng(2).normal(3.0, 2.0, (6, 5, 7, 4)).astype(np.float32))
    fused, plain = FusedBatchNormalization(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    for layer in (fused, plain):
        layer.build(x.shape)
        layer.set_weights([np.full(4, 1.5), np.full(4, 0.2), np.full(4, 0.5), np.full(4, 2.0)])
    outputs, grads = [], []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.sin(y))
        outputs.append(y.numpy())
        grads.append([g.numpy() for g in tape.gradient(loss, [x, layer.gamma, layer.beta])])
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    for g_fused, g_plain in zip(*grads):
        np.testing.assert_allclose(g_fused, g_plain, rtol=1e-4, atol=1e-4)
    for w_fused, w_plain in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(w_fused, w_plain, rtol=1e-5)
    if training:
        assert not np.allclose(fused.moving_mean.numpy(), 0.5)  # the statistics moved
    clone = FusedBatchNormalization.from_config(fused.get_config())
    assert clone.momentum == 0.9 and clone.epsilon == fused.epsilon


@pytest.mark.parametrize("width, first_stride", [(32, 2), (24, 2), (32, 1)])
def test_the_docs_table_is_the_table_in_code(width, first_stride):
    """docs/serfr_cnn.md quotes `python -m kasc.serfr_table`; a change to the network must show there."""
    from kasc.complexity.layer_table import markdown
    from tests.conftest import REPO

    assert markdown(width, first_stride) in (REPO / "docs" / "serfr_cnn.md").read_text()


def test_the_config_schema_names_every_builder_and_its_arguments():
    """kasc.config.ARCHITECTURES (checked without Keras) matches the builders' signatures."""
    import inspect

    from kasc.config import ARCHITECTURES
    from kasc.models import BUILDERS

    assert set(ARCHITECTURES) == set(BUILDERS)
    for name, builder in BUILDERS.items():
        arguments = set(inspect.signature(builder).parameters) - {"input_shape", "n_classes"}
        assert set(ARCHITECTURES[name]) == arguments, name


KERAS_ONLY = ["serfr_cnn", "mobilenetv2", "cnn_teacher", "efficientat_mn"]


@pytest.mark.parametrize("name", KERAS_ONLY)
def test_a_saved_network_of_keras_layers_loads_without_kasc(name, tmp_path):
    """Run folders write model.keras through kasc.models.saved.save_model: kasc's fused batch normalisation is
    written as Keras' own, so `keras.models.load_model` works in a Python that never imported
    kasc, with the same outputs; kasc's own load_model puts the fused layer back."""
    import subprocess
    import sys

    from kasc.files.runs import RunDir
    from kasc.models.layers import FusedBatchNormalization
    from kasc.models.saved import load_model

    model = build_model(name, (FRAMES_1S, 64, 1), 5, **MODELS.get(name, {}))
    rng = np.random.default_rng(0)
    for layer in model.layers:  # statistics away from their initial values, so that they matter
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([w + rng.uniform(0.1, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    assert any(type(layer) is FusedBatchNormalization for layer in model.layers)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.save_model(model)
    x = _x(FRAMES_1S)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, keras, numpy as np; m = keras.models.load_model(sys.argv[1]); "
            "np.save(sys.argv[2], m(np.load(sys.argv[3]), training=False).numpy()); "
            "assert 'kasc' not in sys.modules, 'kasc was imported'")
    done = subprocess.run([sys.executable, "-c", code, str(run.model_file), str(tmp_path / "y.npy"),
                           str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = model(x, training=False).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)
    loaded = load_model(run.model_file)
    assert any(type(layer) is FusedBatchNormalization for layer in loaded.layers)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, atol=1e-6)
