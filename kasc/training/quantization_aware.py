"""Quantization-aware fine-tuning of a finished student (tensorflow-model-optimization), and
its int8 export: used by ``python -m kasc.qat`` only, in its own process, because
importing tfmot makes ``tf.keras`` mean ``tf_keras`` for the whole process."""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import keras  # Keras 3, imported before tfmot
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

from kasc.complexity.costs import audit_tflite
from kasc.complexity.verdict import per_second_complexity
from kasc.data.batch_keys import LABELS
from kasc.data.pipeline import Pipeline, steps_per_epoch
from kasc.deployment.conversion import converter_output_captured, compare
from kasc.deployment.tflite_export import sample_logmel
from kasc.evaluation.inference import finished_run, tflite_probabilities
from kasc.evaluation.metrics import classification_metrics, summary
from kasc.files.atomic import atomic_path, write_json
from kasc.files.runs import RunDir
from kasc.training.inputs import training_dataset

TWIN_TOLERANCE = 1e-4
"""Largest |p_tf_keras - p_keras| accepted between the rebuilt graph and the student."""


def _twin_layer(layer):
    """The tf_keras layer with the hyper-parameters of a Keras 3 layer (weights come later)."""
    L, config, name = tf_keras.layers, layer.get_config(), {"name": layer.name}
    if isinstance(layer, keras.layers.BatchNormalization):  # kasc's FusedBatchNormalization too
        return L.BatchNormalization(axis=config["axis"], momentum=config["momentum"], epsilon=config["epsilon"],
                                    center=config["center"], scale=config["scale"], **name)
    if isinstance(layer, keras.layers.Conv2D) and type(layer) is keras.layers.Conv2D:
        return L.Conv2D(config["filters"], config["kernel_size"], strides=config["strides"], padding=config["padding"],
                        dilation_rate=config["dilation_rate"], groups=config["groups"], use_bias=config["use_bias"],
                        activation=config["activation"], **name)
    if type(layer) is keras.layers.ReLU:
        return L.ReLU(max_value=config["max_value"], negative_slope=config["negative_slope"],
                      threshold=config["threshold"], **name)
    if type(layer) in (keras.layers.AveragePooling2D, keras.layers.MaxPooling2D):
        return getattr(L, type(layer).__name__)(config["pool_size"], strides=config["strides"],
                                                padding=config["padding"], **name)
    if type(layer) is keras.layers.GlobalAveragePooling2D:
        return L.GlobalAveragePooling2D(keepdims=config["keepdims"], **name)
    if type(layer) in (keras.layers.Add, keras.layers.Multiply):
        return getattr(L, type(layer).__name__)(**name)
    if type(layer) is keras.layers.Dense:
        return L.Dense(config["units"], activation=config["activation"], use_bias=config["use_bias"], **name)
    if type(layer) is keras.layers.Softmax:
        return L.Softmax(axis=config["axis"], **name)
    if type(layer) is keras.layers.Dropout:
        return L.Dropout(config["rate"], **name)
    raise ValueError(f"QAT: layer {layer.name} ({type(layer).__name__}) has no tf_keras twin here; QAT supports "
                     f"the SERFR-CNN student's layer types")


def tf_keras_twin(model: keras.Model) -> tf_keras.Model:
    """The same functional graph as the Keras 3 ``model`` built from tf_keras layers, with
    the same layer names and weights.

    Raises:
      ValueError: a layer type without a twin, or a nested model.
    """
    source_input = model.inputs[0]
    tensors = {id(source_input): tf_keras.Input(shape=tuple(source_input.shape[1:]), name=model.layers[0].name)}
    for layer in model.layers[1:]:
        if getattr(layer, "layers", None):
            raise ValueError(f"QAT: nested model {layer.name} is not supported")
        node = layer._inbound_nodes[0]  # noqa: SLF001 - a functional layer's single call
        args = [tensors[id(t)] for t in node.input_tensors]
        outputs = _twin_layer(layer)(args if len(args) > 1 else args[0])
        tensors[id(node.output_tensors[0])] = outputs
    twin = tf_keras.Model(tensors[id(source_input)], tensors[id(model.outputs[0])], name=model.name)
    for layer in model.layers[1:]:
        if layer.weights:
            twin.get_layer(layer.name).set_weights(layer.get_weights())
    return twin


class NoOpQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Leaves a layer as it is in the QAT graph (tfmot has no config for ``Multiply``)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


def quantize_aware(model: tf_keras.Model) -> tf_keras.Model:
    """``model`` with fake quantisation (tfmot's default 8-bit scheme; ``Multiply`` no-op)."""
    quantize = tfmot.quantization.keras

    def annotate(layer):
        if isinstance(layer, tf_keras.layers.Multiply):
            return quantize.quantize_annotate_layer(layer, quantize_config=NoOpQuantizeConfig())
        return quantize.quantize_annotate_layer(layer)

    annotated = tf_keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with quantize.quantize_scope({"NoOpQuantizeConfig": NoOpQuantizeConfig}):
        return quantize.quantize_apply(annotated)


def to_int8_tflite(qat_model: tf_keras.Model, input_shape: tuple, representative: np.ndarray) -> bytes:
    """Full-integer int8 TFLite of a QAT model for batch-1 inputs of ``input_shape``
    (float32 input and output, as kasc's PTQ files)."""
    function = tf.function(lambda x: qat_model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((1, *input_shape), tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([example[None].astype(np.float32)] for example in representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with converter_output_captured(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def _scores(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict:
    return summary(classification_metrics(labels, probabilities, class_names))


def run_qat(run: RunDir, epochs: int, learning_rate: float,
            verbose: int = 2) -> dict:
    """Fine-tune the run's ``model.keras`` with fake quantisation, export and audit
    ``model_qat_int8.tflite``, evaluate, write ``qat.json``; return its content."""
    started = time.monotonic()
    loaded = finished_run(run)
    cfg, student, logmel = loaded.cfg, loaded.model, loaded.logmel
    train_data, valid_data = loaded.splits["train"], loaded.splits["valid"]

    twin = tf_keras_twin(student)
    probe = sample_logmel(valid_data, logmel, 16, seed=cfg.train.seed + 2)
    twin_error = float(np.abs(twin(probe, training=False).numpy() - np.asarray(student(probe, training=False))).max())
    if twin_error > TWIN_TOLERANCE:
        raise RuntimeError(f"QAT: the tf_keras rebuild of {run.model_file} differs from it by {twin_error:.2g}")
    qat_model = quantize_aware(twin)
    qat_model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    stream = training_dataset(cfg, train_data, logmel, {}, start_epoch=0, verbose=0).map(lambda x, y: (x, y[LABELS]))
    valid_stream = Pipeline(valid_data, logmel, cfg.train.batch_size).evaluation().map(lambda x, y: (x, y[LABELS]))
    print(f"[kasc.qat] {run.path}: {epochs} epoch(s) of quantization-aware training at learning rate "
          f"{learning_rate:g} on {len(train_data)} clips (labels only)", flush=True)
    qat_model.fit(stream, epochs=epochs, steps_per_epoch=steps_per_epoch(len(train_data), cfg.train.batch_size),
                  validation_data=valid_stream, verbose=verbose)

    representative = sample_logmel(train_data, logmel, 200, seed=cfg.train.seed)
    input_shape = tuple(representative.shape[1:])
    qat_file = run.qat_int8_file
    with atomic_path(qat_file) as tmp:
        tmp.write_bytes(to_int8_tflite(qat_model, input_shape, representative))
    qat_audit = audit_tflite(qat_file).to_dict()
    ptq_audit = json.loads(run.complexity_file.read_text())["int8"] if run.complexity_file.is_file() else {}

    labels, names = valid_data.labels, valid_data.class_names
    qat_keras = qat_model.predict(valid_stream.map(lambda x, y: x), verbose=0)
    qat_int8 = tflite_probabilities(qat_file, valid_data, logmel)
    metrics = run.metrics()
    result = {
        "epochs": epochs, "learning_rate": learning_rate, "train_clips": len(train_data),
        "float32": summary(metrics),
        "ptq_int8": summary(metrics.get("int8", {})),
        "qat_keras": _scores(labels, qat_keras, names),
        "qat_int8": _scores(labels, qat_int8, names),
        "qat_int8_vs_qat_keras": compare(qat_keras, qat_int8),
        "twin_max_abs_prob_diff": twin_error,
        "qat_audit": {k: qat_audit[k] for k in ("params", "param_bytes", "macs", "input_shape")},
        "ptq_audit": {k: ptq_audit.get(k) for k in ("params", "param_bytes", "macs", "input_shape")},
        "dcase2023_limits": per_second_complexity(cfg, student, qat_audit),
        "seconds": round(time.monotonic() - started, 1),
    }
    write_json(run.qat_file, result)
    return result
