"""Export to TFLite (float32 and full-integer int8), checked against Keras with LiteRT.

``python -m kasc.export MODEL_OR_RUN [--config NAME] [--out DIR]``

MODEL_OR_RUN is a ``.keras`` file or a run folder holding ``model.keras`` and
``config.yaml``. The config names the dataset whose training split supplies the int8
representative data (log-mel of randomly drawn training clips, through kasc's front end)
and whose validation split supplies the check batch. Writes ``<stem>_float32.tflite``,
``<stem>_int8.tflite``, ``<stem>_complexity.json`` (the audit of each file) and
``<stem>_export.json`` (largest probability difference and top-1 agreement of each file
against Keras on the check batch) and prints the same. It also writes the waveform-in
model ``<stem>_waveform_int8.tflite`` (the front end inside, then the int8 network:
:mod:`kasc.deployment.waveform_model`), checked on up to 2,000 validation clips.

``--waveform-only`` writes just the waveform-in model around the existing
``<stem>_int8.tflite`` (left as it is), for runs exported before it existed: its check
goes into ``<stem>_export.json`` and the front end's cost into the run's
``complexity.json`` (``<stem>_complexity.json`` outside a run folder).

The int8 model is full-integer: every op runs on int8 tensors (int32 biases); its input
and output stay float32 with a QUANTIZE / DEQUANTIZE op at each end, so it takes the same
log-mel input as the Keras model.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from kasc.deployment.litert_runner import run_tflite
from kasc.models.reshape import fixed_shape_model



@contextlib.contextmanager
def converter_output_captured():
    """Hold back what the TFLite converter prints (a "Saved artifact" listing of every
    variable, MLIR notes) at the file-descriptor level; show it only if conversion fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as capture:
        try:
            for fd in saved:
                os.dup2(capture.fileno(), fd)
            yield
        except BaseException:
            _restore(saved)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            _restore(saved)


def _restore(saved: dict) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, copy in list(saved.items()):
        os.dup2(copy, fd)
        os.close(copy)
        del saved[fd]


def to_tflite(model, input_shape: tuple, representative: np.ndarray | None = None) -> bytes:
    """Convert a Keras model for batch-1 inputs of ``input_shape``.

    Args:
      representative: float32 (n, *input_shape) log-mel examples; given, the model is
        quantised to full integer int8 (else float32).
    """
    import tensorflow as tf

    fixed = fixed_shape_model(model, input_shape)
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    if representative is not None:
        def examples():
            for example in representative:
                yield [example[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = examples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with converter_output_captured(), warnings.catch_warnings():
        # expected: the int8 model keeps float32 input and output (QUANTIZE / DEQUANTIZE ops)
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def compare(reference: np.ndarray, other: np.ndarray) -> dict:
    """Largest absolute probability difference and top-1 agreement of two (n, classes)."""
    return {
        "max_abs_prob_diff": float(np.abs(reference - other).max()),
        "mean_abs_prob_diff": float(np.abs(reference - other).mean()),
        "top1_agreement": float(np.mean(reference.argmax(1) == other.argmax(1))),
        "clips": int(len(reference)),
    }


def sample_logmel(data, logmel, n_clips: int, seed: int = 0) -> np.ndarray:
    """Log-mel (n, frames, mels, 1) of ``n_clips`` random clips of a split.

    Args:
      data: a :class:`kasc.data.pipeline.SplitData` (cached int16 audio).
      logmel: the front end (:class:`kasc.data.features.LogMel`).
    """
    from kasc.data.audio import from_int16

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
                 write_audits: bool = True, waveform: tuple | None = None) -> dict:
    """Write float32 and int8 TFLite files, the Keras comparison (``<stem>_export.json``)
    and, unless ``write_audits`` is False (the caller writes its own), the audits
    (``<stem>_complexity.json``).

    Args:
      waveform: (FeatureConfig, sample_rate, check waveforms (n, clip_samples)) given,
        also the waveform-in model ``<stem>_waveform_int8.tflite`` (front end + the int8
        network, :mod:`kasc.deployment.waveform_model`), its check under ``waveform_int8`` in the
        export record and its front end's cost under ``front_end`` in the audits.
    """
    from kasc.files.atomic import atomic_path, write_json
    from kasc.complexity import audit_tflite

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
        report[kind] = {"file": str(path), **compare(keras_probs, run_tflite(path, check))}
        audits[kind] = audit_tflite(path).to_dict()
    if waveform is not None:
        from kasc.deployment.waveform_model import export_waveform_model

        features, sample_rate, waveforms = waveform
        report["waveform_int8"] = export_waveform_model(
            out_dir / f"{stem}_int8.tflite", out_dir / f"{stem}_waveform_int8.tflite", features, sample_rate, waveforms)
        audits["front_end"] = report["waveform_int8"]["front_end"]
    if write_audits:
        write_json(out_dir / f"{stem}_complexity.json", audits)
    write_json(out_dir / f"{stem}_export.json", report)
    return {"report": report, "audits": audits}


def main(argv: list[str] | None = None) -> int:
    from kasc.cli import describe

    parser = argparse.ArgumentParser(prog="python -m kasc.export", description=describe(__doc__))
    parser.add_argument("model", type=Path, help=".keras file or run folder (model.keras + config.yaml)")
    parser.add_argument("--config", default=None, help="config naming the dataset (default: the run's, else 'default')")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: beside the model)")
    parser.add_argument("--representative-clips", type=int, default=200)
    parser.add_argument("--check-clips", type=int, default=100)
    parser.add_argument("--waveform-only", action="store_true",
                        help="only wrap the existing <stem>_int8.tflite with the front end (model_waveform_int8.tflite)")
    args = parser.parse_args(argv)

    from kasc.models import load_model
    from kasc.config import ConfigError, load_config

    from kasc.files.runs import RunDir

    run, model_path = RunDir.locate(args.model)
    if not model_path.is_file():
        print(f"error: model file not found: {model_path}", file=sys.stderr)
        return 2
    config_ref = args.config or (str(run.config_file) if run.config_if_any and args.model.is_dir() else "default")
    try:
        cfg = load_config(config_ref, args.overrides)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from kasc.data.pipeline import prepare_splits
    from kasc.data.features import LogMel

    from kasc.deployment.waveform_model import WaveformExportError, check_waveforms

    out_dir = args.out or model_path.parent
    if args.waveform_only:
        splits = prepare_splits(cfg, ("valid",))
        try:
            return waveform_only(cfg, model_path, out_dir, run, check_waveforms(splits["valid"], cfg.train.seed + 1))
        except (WaveformExportError, FileNotFoundError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    model = load_model(model_path)
    splits = prepare_splits(cfg)
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    representative = sample_logmel(splits["train"], logmel, args.representative_clips, seed=cfg.train.seed)
    check = sample_logmel(splits["valid"], logmel, args.check_clips, seed=cfg.train.seed + 1)
    waveform = (cfg.features, cfg.data.sample_rate, check_waveforms(splits["valid"], seed=cfg.train.seed + 1))
    try:
        result = export_model(model, out_dir, model_path.stem, representative, check, waveform=waveform)
    except WaveformExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from kasc.complexity import per_second_complexity

    for kind in ("float32", "int8"):
        r, a = result["report"][kind], result["audits"][kind]
        limits = per_second_complexity(cfg, model, a)  # one verdict, per 1 s of audio, as training's
        print(f"{kind:>7}: {r['file']}  max |p_tflite - p_keras| = {r['max_abs_prob_diff']:.4f}, "
              f"top-1 agreement {r['top1_agreement']:.1%} on {r['clips']} clips; "
              f"{a['params']:,} params, {a['param_bytes']:,} bytes; per 1 s of audio ({limits['macs_basis']}) "
              f"{limits['macs_per_second']:,} MACs: DCASE 2023 limits {'PASS' if limits['within_limits'] else 'FAIL'}")
    print(waveform_line(result["report"]["waveform_int8"]))
    print(f"audits: {out_dir / (model_path.stem + '_complexity.json')}")
    return 0


def waveform_line(record: dict) -> str:
    """One line on the waveform-in model's check and its front end's cost."""
    front = record["front_end"]
    return (f"waveform: {record['file']}  ({record['file_bytes']:,} bytes; front end {front['macs_per_second']:,} "
            f"MACs per 1 s, {front['param_bytes']:,} bytes) top-1 agreement with the int8 network on kasc's front "
            f"end {record['top1_agreement']:.1%} on {record['clips']} clips ({record['top1_agreement_decided']:.1%} on the "
            f"{record['decided_clips']} decided ones), max |p diff| "
            f"{record['max_abs_prob_diff']:.4f}; silence, noise and tone give finite outputs")


def waveform_only(cfg, model_path: Path, out_dir: Path, run, waveforms: np.ndarray) -> int:
    """``--waveform-only``: wrap the existing int8 file, record its check and cost."""
    import json

    from kasc.files.atomic import write_json
    from kasc.deployment.waveform_model import export_waveform_model

    network = model_path.parent / f"{model_path.stem}_int8.tflite"
    if not network.is_file():
        raise FileNotFoundError(f"{network} not found: export the run first (without --waveform-only)")
    record = export_waveform_model(network, out_dir / f"{model_path.stem}_waveform_int8.tflite", cfg.features,
                                   cfg.data.sample_rate, waveforms)
    export_file = out_dir / f"{model_path.stem}_export.json"
    previous = json.loads(export_file.read_text()) if export_file.is_file() else {}
    write_json(export_file, {**previous, "waveform_int8": record})
    in_run = out_dir.resolve() == run.path.resolve() and run.complexity_file.is_file()
    audits_file = run.complexity_file if in_run else out_dir / f"{model_path.stem}_complexity.json"
    audits = json.loads(audits_file.read_text()) if audits_file.is_file() else {}
    write_json(audits_file, {**audits, "front_end": record["front_end"]})
    print(waveform_line(record))
    print(f"front end cost: {audits_file}; check: {export_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
