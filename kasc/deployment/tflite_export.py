"""Keras -> TFLite, float32 and full-integer int8, each file checked against Keras with
LiteRT and audited (:func:`export_model`, used by training's export and by
``python -m kasc.export``); the waveform-in model beside them (:mod:`kasc.deployment.waveform_model`).

The int8 model is full-integer: every op runs on int8 tensors (int32 biases); its input
and output stay float32 with a QUANTIZE / DEQUANTIZE op at each end, so it takes the same
log-mel input as the Keras model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kasc.complexity.costs import audit_tflite
from kasc.data.audio import from_int16
from kasc.deployment.conversion import compare, to_tflite
from kasc.deployment.litert_runner import run_tflite
from kasc.deployment.waveform_model import WaveformExportError, export_waveform_model
from kasc.files.atomic import atomic_path, write_json
from kasc.files.checksums import file_checksum


def sample_logmel(data, logmel, n_clips: int, seed: int = 0) -> np.ndarray:
    """Log-mel (n, frames, mels, 1) of ``n_clips`` random clips of a split.

    Args:
      data: a :class:`kasc.data.pipeline.SplitData` (cached int16 audio).
      logmel: the front end (:class:`kasc.data.features.LogMel`).
    """
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(data), size=min(n_clips, len(data)), replace=False))
    return logmel(from_int16(data.waveforms[index])).numpy()


class NonFiniteModel(ValueError):
    """A model with NaN or infinite weights or outputs: never exported or audited."""


def require_finite_model(model) -> None:
    """Raise :class:`NonFiniteModel` naming the weights of ``model`` that are not finite."""
    broken = [w.path for w in model.weights if not np.isfinite(np.asarray(w.numpy(), dtype=np.float64)).all()]
    if broken:
        raise NonFiniteModel(f"{model.name}: {len(broken)} of {len(model.weights)} weight tensors hold NaN or "
                             f"infinite values ({', '.join(broken[:3])}{', ...' if len(broken) > 3 else ''}); "
                             f"a model that diverged is not exported or audited")


def export_model(model, out_dir: Path, stem: str, representative: np.ndarray, check: np.ndarray,
                 write_audits: bool = True, waveform: tuple | None = None, waveform_optional: bool = False) -> dict:
    """Write float32 and int8 TFLite files, the Keras comparison (``<stem>_export.json``)
    and, unless ``write_audits`` is False (the caller writes its own), the audits
    (``<stem>_complexity.json``).

    Args:
      waveform: (FeatureConfig, sample_rate, check waveforms (n, clip_samples)) given,
        also the waveform-in model ``<stem>_waveform_int8.tflite`` (front end + the int8
        network, :mod:`kasc.deployment.waveform_model`), its check under ``waveform_int8`` in the
        export record and its front end's cost under ``front_end`` in the audits.
      waveform_optional: a waveform-in model that fails its check (``WaveformExportError``) is
        not written, and the export goes on: ``waveform_int8`` records ``written: false`` and
        the reason (a training run keeps its other models); else the error is raised.
    """
    require_finite_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    input_shape = tuple(check.shape[1:])
    keras_probs = model.predict(check, batch_size=64, verbose=0)
    if not np.isfinite(keras_probs).all():
        raise NonFiniteModel(f"{model.name} gives non-finite probabilities on the check clips; nothing exported")
    report, audits = {"input_shape": list(input_shape)}, {}
    for kind, data in (("float32", None), ("int8", representative)):
        path = out_dir / f"{stem}_{kind}.tflite"
        with atomic_path(path) as tmp:
            tmp.write_bytes(to_tflite(model, input_shape, data))
        report[kind] = {"file": str(path), "checksum": file_checksum(path),
                        **compare(keras_probs, run_tflite(path, check))}
        audits[kind] = audit_tflite(path).to_dict()
    if waveform is not None:
        features, sample_rate, waveforms = waveform
        waveform_file = out_dir / f"{stem}_waveform_int8.tflite"
        try:
            report["waveform_int8"] = {**export_waveform_model(out_dir / f"{stem}_int8.tflite", waveform_file,
                                                               features, sample_rate, waveforms),
                                       "checksum": file_checksum(waveform_file)}
            audits["front_end"] = report["waveform_int8"]["front_end"]
        except WaveformExportError as err:
            if not waveform_optional:
                raise
            waveform_file.unlink(missing_ok=True)  # an earlier export's file would pass for this one's
            report["waveform_int8"] = {"written": False, "reason": str(err)}
    if write_audits:
        write_json(out_dir / f"{stem}_complexity.json", audits)
    write_json(out_dir / f"{stem}_export.json", report)
    return {"report": report, "audits": audits}
