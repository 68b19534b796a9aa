"""Complexity audit: parameters, parameter memory and multiply-accumulates (MACs).

``python -m kasc.complexity MODEL [--input-shape 28,256,1] [--json]`` where MODEL is a
``.keras`` or ``.tflite`` file. MACs are counted for convolutions, depthwise
convolutions and dense (fully connected) layers, as the DCASE challenge counts them;
every other layer or op type that does arithmetic is listed as not counted, never
silently dropped. Parameter memory is at the precision the model is stored in: float32
for ``.keras`` weights, and for ``.tflite`` files the bytes of the constant tensors as
stored (int8 weights with int32 biases in a full-integer model, float16 or float32
otherwise).

The DCASE 2023 Task 1 limits are the named constants below; every audit reports PASS or
FAIL against them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kasc.cli import describe, prog
from kasc.complexity.limits import DEFAULT_INPUT_SHAPE


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape must be integers like 28,256,1, got {text!r}") from None
    return shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.complexity"), description=describe(__doc__))
    parser.add_argument("model", type=Path, help=".keras or .tflite file")
    parser.add_argument("--input-shape", type=parse_shape, default=DEFAULT_INPUT_SHAPE,
                        help="(frames, mels, channels) for .keras files; default 28,256,1 (1 s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds of audio the model's input holds, for a file outside a run folder "
                             "(default 1; in a run folder the run's config says)")
    args = parser.parse_args(argv)

    # TensorFlow loads here, once the arguments are read: --help and argument errors answer at once
    from kasc.complexity.costs import audit_file, format_table
    from kasc.complexity.verdict import verdict_for_file
    try:
        audit = audit_file(args.model, args.input_shape)
        limits = verdict_for_file(args.model, audit, args.seconds)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        record = {k: v for k, v in audit.to_dict().items() if k != "within_limits"}  # one verdict: per 1 s
        print(json.dumps({**record, "dcase2023_limits": limits}, indent=1))
    else:
        print(format_table(audit))
        print(f"DCASE 2023 limits, per 1 s of audio ({limits['macs_basis']}): {limits['param_bytes']:,} parameter "
              f"bytes, {limits['macs_per_second']:,} MACs: {'PASS' if limits['within_limits'] else 'FAIL'}")
        if len(audit.input_shape) == 1:  # a waveform-in model (kasc.deployment.waveform_model)
            print("this file takes audio: its front end's constants are counted in the bytes above and its FFT, "
                  "window and mel ops are not counted as MACs; DCASE counts the network alone (model_int8.tflite), "
                  "and complexity.json's front_end gives the front end's own cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
