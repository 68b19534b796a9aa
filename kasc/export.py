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
import json
import sys
from pathlib import Path

import numpy as np

from kasc.cli import describe, prog
from kasc.config import ConfigError, load_config
from kasc.files.atomic import write_json
from kasc.files.checksums import file_checksum
from kasc.files.interrupts import ATOMIC_NOTE, one_line_stops
from kasc.files.runs import RunDir



@one_line_stops(ATOMIC_NOTE)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.export"), description=describe(__doc__))
    parser.add_argument("model", type=Path, help=".keras file or run folder (model.keras + config.yaml)")
    parser.add_argument("--config", default=None, help="config naming the dataset (default: the run's, else 'default')")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: beside the model)")
    parser.add_argument("--representative-clips", type=int, default=200)
    parser.add_argument("--check-clips", type=int, default=100)
    parser.add_argument("--waveform-only", action="store_true",
                        help="only wrap the existing <stem>_int8.tflite with the front end (model_waveform_int8.tflite)")
    args = parser.parse_args(argv)

    # TensorFlow loads here, once the arguments are read: --help and argument errors answer at once
    from kasc.complexity.verdict import per_second_complexity
    from kasc.deployment.tflite_export import export_model, sample_logmel
    from kasc.deployment.waveform_model import WaveformExportError, check_waveforms
    from kasc.data.features import LogMel
    from kasc.data.pipeline import prepare_splits
    from kasc.models import load_model

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
    out_dir = args.out or model_path.parent
    if args.waveform_only:
        splits = prepare_splits(cfg.data, ("valid",), label=cfg.name)
        try:
            return waveform_only(cfg, model_path, out_dir, run, check_waveforms(splits["valid"], cfg.train.seed + 1))
        except (WaveformExportError, FileNotFoundError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    model = load_model(model_path)
    splits = prepare_splits(cfg.data, label=cfg.name)
    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    representative = sample_logmel(splits["train"], logmel, args.representative_clips, seed=cfg.train.seed)
    check = sample_logmel(splits["valid"], logmel, args.check_clips, seed=cfg.train.seed + 1)
    waveform = (cfg.features, cfg.data.sample_rate, check_waveforms(splits["valid"], seed=cfg.train.seed + 1))
    try:
        result = export_model(model, out_dir, model_path.stem, representative, check, waveform=waveform)
    except WaveformExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

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
    from kasc.deployment.waveform_model import export_waveform_model  # TensorFlow: see main

    network = model_path.parent / f"{model_path.stem}_int8.tflite"
    if not network.is_file():
        raise FileNotFoundError(f"{network} not found: export the run first (without --waveform-only)")
    waveform_file = out_dir / f"{model_path.stem}_waveform_int8.tflite"
    record = {**export_waveform_model(network, waveform_file, cfg.features, cfg.data.sample_rate, waveforms),
              "checksum": file_checksum(waveform_file)}
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
