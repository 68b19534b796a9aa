"""The waveform-in deployable model: ``model_waveform_int8.tflite``, the run's front end
(float32, inside the graph) in front of the audited int8 network, unchanged.

Input float32 ``[1, clip_samples]``: mono audio at the run's sample rate, values in
[-1, 1]. Output float32 ``[1, classes]``: probabilities. A device then needs no STFT,
mel or normalisation code of its own, so it cannot get them subtly wrong.

How it is built:

1. :func:`front_end_tflite` converts the run's :class:`kasc.data.features.LogMel` to a float32
   TFLite graph of builtin ops only (framing by GATHER, RFFT2D, ...). The mel filter bank
   is applied sparsely, as weighted UNSORTED_SEGMENT_SUMs over the FFT bins (each bin feeds
   at most two triangular filters), so the front end stores about 30 KB of constants
   instead of a dense 1025 x 256 float32 matrix (1 MB); same values to float rounding
   (tested against ``LogMel``).
2. :func:`join_tflite` appends that graph's tensors, buffers and operators to the int8
   network's flatbuffer and routes its output into the network's log-mel input. Every
   byte of the network (weights, quantisation parameters, operators) is kept as exported
   and audited; a test compares them.

:func:`check_waveform_model` runs the joined file on waveforms beside the int8 network
fed by kasc's own front end (what ``kasc.predict`` does with ``model_int8.tflite``), and
on silence, white noise and a tone. :func:`front_end_cost` is the front end's own
arithmetic and constants: DCASE does not count them, a device pays for them.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils

from kasc.complexity.costs import audit_tflite
from kasc.config import FeatureConfig
from kasc.data.audio import from_int16
from kasc.data.features import LogMel, frames_for
from kasc.deployment.conversion import converter_output_captured, compare
from kasc.deployment.litert_runner import TFLiteModel
from kasc.files.atomic import atomic_path

MIN_TOP1_AGREEMENT = 0.99
"""Export fails if the waveform model names another class than the int8 network on kasc's
front end for more than 1 % of the decided check clips (:data:`DECIDED_MARGIN`)."""
DECIDED_MARGIN = 4 / 256
"""A clip is decided when the int8 network's top probability beats the runner-up by more
than this (4 steps of the int8 output's 1/256 grid). On closer calls, float rounding in
the front end (about 1e-7 relative) may tip one input quantum and with it the label;
such flips are counted (``top1_agreement``) but do not fail the export."""
MAX_MEAN_PROB_DIFF = 0.02
"""Export fails if the mean absolute probability difference exceeds this: a front end that
differs from kasc's (scale, normalisation) moves every clip, decided or not."""
CHECK_CLIPS = 2000
"""At most this many validation clips check the waveform model (all of them if fewer)."""


class WaveformExportError(RuntimeError):
    """The waveform-in model does not behave like the int8 network on kasc's front end."""


def front_end_function(cfg: FeatureConfig, sample_rate: int, clip_samples: int):
    """A ``tf.function`` of one waveform (1, clip_samples) float32 -> log-mel
    (1, frames, n_mels, 1): kasc's one front end, :class:`kasc.data.features.LogMel`, with
    its TFLite switch on (the filter bank applied sparsely, builtin ops only)."""
    logmel = LogMel(cfg, sample_rate, for_tflite=True)

    @tf.function(input_signature=[tf.TensorSpec([1, clip_samples], tf.float32, name="waveform")])
    def front_end(waveform):
        return logmel(waveform)

    return front_end


def front_end_tflite(cfg: FeatureConfig, sample_rate: int, clip_samples: int) -> bytes:
    """The front end as a float32 TFLite flatbuffer of builtin ops (no TF select ops)."""
    function = front_end_function(cfg, sample_rate, clip_samples)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with converter_output_captured():
        return converter.convert()


def _version(text: bytes) -> tuple[int, ...]:
    digits = text.rstrip(b"\0").decode(errors="replace").split(".")
    return tuple(int(d) if d.isdigit() else 0 for d in digits)


def join_tflite(front_end: bytes, network: bytes, input_name: str = "waveform") -> bytes:
    """One flatbuffer: ``front_end``'s graph feeding ``network``'s input.

    Both must have one subgraph, one input and (front end) one output whose shape and
    dtype equal the network's input. The network's tensors, buffers and operators keep
    their indices and bytes; the front end's are appended and its operators run first.
    The signature and ``min_runtime_version`` are updated (the later of the two).

    Raises:
      ValueError: the graphs do not fit together (names what differs).
    """
    front = flatbuffer_utils.convert_bytearray_to_object(bytearray(front_end))
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(network))
    if len(front.subgraphs) != 1 or len(model.subgraphs) != 1:
        raise ValueError("join_tflite: both models must have exactly one subgraph")
    fg, ng = front.subgraphs[0], model.subgraphs[0]
    if len(fg.inputs) != 1 or len(fg.outputs) != 1 or len(ng.inputs) != 1:
        raise ValueError("join_tflite: the front end needs one input and one output, the network one input")
    front_out, net_in = fg.tensors[fg.outputs[0]], ng.tensors[ng.inputs[0]]
    given, taken = [int(d) for d in front_out.shape], [int(d) for d in net_in.shape]
    if given != taken or front_out.type != net_in.type:
        raise ValueError(f"join_tflite: the front end gives shape {given} (TFLite type {front_out.type}), "
                         f"the network takes {taken} (TFLite type {net_in.type})")

    def code_key(code):
        return code.builtinCode, code.deprecatedBuiltinCode, code.customCode, code.version

    known = {code_key(c): i for i, c in enumerate(model.operatorCodes)}
    code_map = []
    for code in front.operatorCodes:
        if code_key(code) not in known:
            known[code_key(code)] = len(model.operatorCodes)
            model.operatorCodes.append(copy.deepcopy(code))
        code_map.append(known[code_key(code)])
    buffer_map = {0: 0}  # buffer 0 is the empty sentinel of every TFLite file
    for index, buffer in enumerate(front.buffers[1:], start=1):
        buffer_map[index] = len(model.buffers)
        model.buffers.append(copy.deepcopy(buffer))
    offset = len(ng.tensors)
    for tensor in fg.tensors:
        tensor = copy.deepcopy(tensor)
        tensor.buffer = buffer_map[tensor.buffer]
        ng.tensors.append(tensor)

    def remap(index: int) -> int:
        if index < 0:
            return index  # optional input left out
        return ng.inputs[0] if index == fg.outputs[0] else index + offset

    operators = []
    for op in fg.operators:
        op = copy.deepcopy(op)
        op.opcodeIndex = code_map[op.opcodeIndex]
        op.inputs = [remap(int(i)) for i in op.inputs]
        op.outputs = [remap(int(i)) for i in op.outputs]
        if op.intermediates is not None:
            op.intermediates = [remap(int(i)) for i in op.intermediates]
        operators.append(op)
    waveform_index = fg.inputs[0] + offset
    ng.tensors[waveform_index].name = input_name.encode()
    ng.operators = operators + list(ng.operators)
    ng.inputs = [waveform_index]
    for signature in model.signatureDefs or []:
        signature.inputs[0].name, signature.inputs[0].tensorIndex = input_name.encode(), waveform_index
    front_versions = {m.name: front.buffers[m.buffer].data for m in front.metadata or []}
    for meta in model.metadata or []:
        theirs = front_versions.get(meta.name)
        if meta.name == b"min_runtime_version" and theirs is not None:
            ours = bytes(model.buffers[meta.buffer].data)
            if _version(bytes(theirs)) > _version(ours):
                model.buffers[meta.buffer].data = copy.deepcopy(theirs)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def probe_signals(clip_samples: int, sample_rate: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs every deployable model must survive, (clip_samples,) float32 each: digital
    silence, full-scale white noise (uniform in [-1, 1]) and a 1 kHz tone at amplitude 0.5."""
    t = np.arange(clip_samples) / sample_rate
    return {
        "silence": np.zeros(clip_samples, np.float32),
        "white_noise": np.random.default_rng(seed).uniform(-1.0, 1.0, clip_samples).astype(np.float32),
        "tone_1khz": (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32),
    }


def check_waveform_model(waveform_model, network, waveforms: np.ndarray, logmel, sample_rate: int) -> dict:
    """Compare the waveform-in model with the int8 network on kasc's front end.

    Args:
      waveform_model: the joined ``.tflite`` (path or bytes).
      network: the int8 network ``.tflite`` (path or bytes), the one in the joined file.
      waveforms: check clips (n, clip_samples), float in [-1, 1] or int16 (as cached);
        converted 64 at a time.
      logmel: the run's :class:`kasc.data.features.LogMel`.

    Returns:
      ``max_abs_prob_diff``, ``mean_abs_prob_diff``, ``top1_agreement`` (all clips),
      ``decided_clips`` and ``top1_agreement_decided`` (:data:`DECIDED_MARGIN`), ``clips``
      and ``probes`` (each probe signal's probabilities, all finite or the check fails).

    Raises:
      WaveformExportError: agreement on decided clips below :data:`MIN_TOP1_AGREEMENT`, mean
        difference above :data:`MAX_MEAN_PROB_DIFF`, or a non-finite output.
    """
    joined, reference = TFLiteModel(waveform_model), TFLiteModel(network)
    ours, theirs = [], []
    for start in range(0, len(waveforms), 64):
        chunk = np.asarray(waveforms[start:start + 64])
        chunk = from_int16(chunk) if chunk.dtype == np.int16 else chunk.astype(np.float32)
        ours.append(joined(chunk))
        theirs.append(reference(logmel(chunk).numpy()))
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    record = compare(theirs, ours)
    ranked = np.sort(theirs, axis=1)
    decided = ranked[:, -1] - ranked[:, -2] > DECIDED_MARGIN
    agree = theirs.argmax(1) == ours.argmax(1)
    record["decided_clips"] = int(decided.sum())
    record["top1_agreement_decided"] = float(agree[decided].mean()) if decided.any() else 1.0
    probes = {name: joined(signal[None])[0] for name, signal in
              probe_signals(waveforms.shape[1], sample_rate).items()}
    record["probes"] = {name: [round(float(p), 6) for p in probs] for name, probs in probes.items()}
    broken = [name for name, probs in probes.items() if not np.isfinite(probs).all()]
    if broken or not np.isfinite(ours).all():
        raise WaveformExportError(f"the waveform model gives non-finite probabilities on "
                                  f"{', '.join(broken) or 'check clips'}")
    if record["top1_agreement_decided"] < MIN_TOP1_AGREEMENT or record["mean_abs_prob_diff"] > MAX_MEAN_PROB_DIFF:
        raise WaveformExportError(
            f"the waveform model differs from the int8 network on kasc's front end: top-1 agreement "
            f"{record['top1_agreement_decided']:.1%} on the {record['decided_clips']} decided of {record['clips']} "
            f"clips (need {MIN_TOP1_AGREEMENT:.0%}), mean probability difference {record['mean_abs_prob_diff']:.4f} "
            f"(at most {MAX_MEAN_PROB_DIFF}), largest {record['max_abs_prob_diff']:.4f}")
    return record


def front_end_cost(cfg: FeatureConfig, sample_rate: int, front_end_bytes: int) -> dict:
    """The front end's arithmetic per 1 s of audio, counted as multiply-accumulates (MACs),
    and its stored constants (``front_end_bytes``: bytes of the constant tensors of its
    TFLite graph, from :func:`kasc.complexity.audit_tflite`).

    Counted per frame: the window (n_fft multiplies), the real FFT (estimated as
    2 * n_fft * log2(n_fft) real MACs, the cost of a radix-2 real FFT of n_fft points:
    n_fft / 4 * log2(n_fft) complex butterflies, one complex multiply (4 real) and two
    complex adds each, adds counted as half a MAC), the power spectrum (2 per bin), the
    sparse mel filter bank (one per bin and filter fed), log and normalisation (2 per band).
    """
    frames = frames_for(cfg, sample_rate)
    bins = cfg.n_fft // 2 + 1
    feeds = int((LogMel(cfg, sample_rate).filterbank.numpy() != 0).sum())
    per_frame = {"window": cfg.n_fft, "fft": int(round(2 * cfg.n_fft * math.log2(cfg.n_fft))),
                 "power": 2 * bins, "mel": feeds, "log_normalize": 2 * cfg.n_mels}
    return {"macs_per_second": frames * sum(per_frame.values()), "frames_per_second": frames,
            "macs_per_frame": per_frame, "param_bytes": int(front_end_bytes),
            "counted": "estimate: window, real FFT (2 n log2 n), power, sparse mel bank, log + normalisation"}


def export_waveform_model(network_path, out_path, cfg: FeatureConfig, sample_rate: int, waveforms,
                          logmel=None) -> dict:
    """Write ``out_path`` (the waveform-in model of the int8 network at ``network_path``)
    atomically, after :func:`check_waveform_model` passed on ``waveforms`` (n,
    clip_samples; int16 or float in [-1, 1]); return the check record with the file, its
    size and the front end's cost (:func:`front_end_cost`).

    Raises:
      WaveformExportError: the check failed; nothing is written.
    """
    network = Path(network_path).read_bytes()
    clip_samples = int(np.shape(waveforms)[1])
    front_end = front_end_tflite(cfg, sample_rate, clip_samples)
    joined = join_tflite(front_end, network)
    record = check_waveform_model(joined, network, waveforms, logmel or LogMel(cfg, sample_rate), sample_rate)
    with tempfile.NamedTemporaryFile(suffix=".tflite") as tmp:
        tmp.write(front_end)
        tmp.flush()
        front_bytes = audit_tflite(tmp.name).param_bytes
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(joined)
    return {"file": str(out_path), "input": f"float32 [1, {clip_samples}] waveform at {sample_rate} Hz",
            "file_bytes": len(joined), **record, "front_end": front_end_cost(cfg, sample_rate, front_bytes)}


def check_waveforms(data, seed: int = 0, limit: int = CHECK_CLIPS) -> np.ndarray:
    """The cached int16 waveforms (n, clip_samples) of every clip of a split, or of
    ``limit`` of them drawn at random (in file order) if it holds more.

    Args:
      data: a :class:`kasc.data.pipeline.SplitData`.
    """
    if len(data) <= limit:
        return np.asarray(data.waveforms)
    index = np.sort(np.random.default_rng(seed).choice(len(data), size=limit, replace=False))
    return np.asarray(data.waveforms[index])
