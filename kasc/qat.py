"""Quantization-aware training (QAT) of a trained student: ``python -m kasc.qat RUN_DIR [--epochs N]``.

The report stops at post-training quantisation (PTQ: ``model_int8.tflite`` of every run).
QAT fine-tunes the trained network with the int8 rounding simulated (fake quantisation),
so that it learns weights that survive it, then converts it to a full-integer int8
TFLite file, ``model_qat_int8.tflite``, audited like the PTQ file.

tensorflow-model-optimization (tfmot 0.8) quantises only ``tf_keras`` (Keras 2) models,
not Keras 3 ones, and importing it makes ``tf.keras`` mean ``tf_keras`` for the whole
process. So the QAT code (``kasc.training.quantization_aware``), the only module that imports
tfmot, runs in its own process
(``python -m kasc.train`` starts it when ``train.qat_epochs`` > 0), and it rebuilds the
student's functional graph from ``tf_keras`` layers (same layer names, weights copied
by name; the outputs agree to float32 rounding, checked on every run). The
squeeze-and-excitation ``Multiply`` gets a no-op ``QuantizeConfig`` (tfmot has none for
it); the converter quantises it from the representative clips, as in PTQ.

Fine-tuning uses the run's training pipeline and augmentation, on the labels (no
teachers), with Adam at ``--learning-rate`` for ``--epochs``; the result goes to
``qat.json`` in the run folder beside the PTQ figures: float32, PTQ int8, QAT (Keras)
and QAT int8 accuracy and log loss on the validation split, the agreement of the QAT
int8 file with its Keras model, and both audits. An interrupted QAT run starts again
from the trained model (it is a few epochs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kasc.cli import describe, prog
from kasc.config import ConfigError
from kasc.files.interrupts import one_line_stops
from kasc.files.locks import LockBusy
from kasc.files.runs import RunDir

DEFAULT_EPOCHS = 5
DEFAULT_LEARNING_RATE = 1e-4


@one_line_stops("qat.json and model_qat_int8.tflite are written at the end, so the run is as it was")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.qat"), description=describe(__doc__))
    parser.add_argument("run", type=Path, help="a finished run folder (model.keras, config.yaml)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)

    run = RunDir(args.run)
    if not run.is_finished():
        print(f"error: {args.run} is not a finished run folder (model.keras and a finished metrics.json)",
              file=sys.stderr)
        return 2
    if args.epochs < 1 or args.learning_rate <= 0:
        print(f"error: --epochs must be >= 1 and --learning-rate > 0, got {args.epochs} and {args.learning_rate}",
              file=sys.stderr)
        return 2
    # tensorflow-model-optimization and tf_keras load here, not for --help
    from kasc.training.quantization_aware import run_qat

    try:
        with run.owned():
            result = run_qat(run, args.epochs, args.learning_rate, args.verbose)
    except (ConfigError, ValueError, OSError, LockBusy, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    limits = result["dcase2023_limits"]
    print(f"[kasc.qat] accuracy on {result['qat_int8']['clips']} validation clips: float32 "
          f"{result['float32']['accuracy']:.3f}, PTQ int8 {result['ptq_int8']['accuracy']:.3f}, QAT (Keras) "
          f"{result['qat_keras']['accuracy']:.3f}, QAT int8 {result['qat_int8']['accuracy']:.3f}; QAT int8: "
          f"{limits['param_bytes']:,} parameter bytes, {limits['macs_per_second']:,} MACs per 1 s: DCASE 2023 limits "
          f"{'PASS' if limits['within_limits'] else 'FAIL'}; written {run.qat_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
