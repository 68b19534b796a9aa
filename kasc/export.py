"""Export to TFLite (float32 and full-integer int8), checked against Keras with LiteRT.

``python -m kasc.export MODEL_OR_RUN [--config NAME] [--out DIR]``

MODEL_OR_RUN is a ``.keras`` file or a run folder holding ``model.keras`` and
``config.yaml``. The config names the dataset whose training split supplies the int8
representative data (log-mel of randomly drawn training clips, through kasc's front end)
and whose validation split supplies the check batch. Writes ``<stem>_float32.tflite``,
``<stem>_int8.tflite``, ``<stem>_complexity.json`` (the audit of each file) and
``<stem>_export.json`` (largest probability difference and top-1 agreement of each file
against Keras on the check batch) and prints the same.

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

from kasc.litert_runner import run_tflite
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
      logmel: the front end (:class:`kasc.features.LogMel`).
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
                 write_audits: bool = True) -> dict:
    """Write float32 and int8 TFLite files, the Keras comparison (``<stem>_export.json``)
    and, unless ``write_audits`` is False (the caller writes its own), the audits
    (``<stem>_complexity.json``)."""
    from kasc.atomic import atomic_path, write_json
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
    args = parser.parse_args(argv)

    from kasc.models import load_model
    from kasc.config import ConfigError, load_config

    from kasc.runs import RunDir

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
    from kasc.features import LogMel

    model = load_model(model_path)
    splits = prepare_splits(cfg)
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    representative = sample_logmel(splits["train"], logmel, args.representative_clips, seed=cfg.train.seed)
    check = sample_logmel(splits["valid"], logmel, args.check_clips, seed=cfg.train.seed + 1)
    out_dir = args.out or model_path.parent
    result = export_model(model, out_dir, model_path.stem, representative, check)
    from kasc.complexity import per_second_complexity

    for kind in ("float32", "int8"):
        r, a = result["report"][kind], result["audits"][kind]
        limits = per_second_complexity(cfg, model, a)  # one verdict, per 1 s of audio, as training's
        print(f"{kind:>7}: {r['file']}  max |p_tflite - p_keras| = {r['max_abs_prob_diff']:.4f}, "
              f"top-1 agreement {r['top1_agreement']:.1%} on {r['clips']} clips; "
              f"{a['params']:,} params, {a['param_bytes']:,} bytes; per 1 s of audio ({limits['macs_basis']}) "
              f"{limits['macs_per_second']:,} MACs: DCASE 2023 limits {'PASS' if limits['within_limits'] else 'FAIL'}")
    print(f"audits: {out_dir / (model_path.stem + '_complexity.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
