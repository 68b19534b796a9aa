"""The report's SERFR-CNN table beside kasc's layers, with output shape, parameters and
MACs per row, from the complexity audit.

``python -m kasc.serfr_table [--width 32] [--first-stride 2]`` prints a Markdown
table (the one in ``docs/serfr_cnn.md``) for a 1 s input (28, 256, 1).
"""

from __future__ import annotations

import argparse

from kasc.cli import describe
from kasc.complexity.costs import DCASE2023_MAX_MACS, DEFAULT_INPUT_SHAPE, audit_keras
from kasc.models.serfr_cnn import ROW_NAMES, SERFR_TABLE, build_serfr_cnn


def serfr_rows(width: int = 32, first_stride: int = 2, input_shape=DEFAULT_INPUT_SHAPE) -> list[dict]:
    """One dict per report row: report text, kasc text, layers, output shape, params, MACs."""
    audit = audit_keras(build_serfr_cnn(width=width, first_stride=first_stride), input_shape)
    prefixes = list(ROW_NAMES) + ["head_pool", "logits"]
    reports = [(r.report, r.kasc) for r in SERFR_TABLE] + [
        (("Pooling", "Global Average pool"), "global average pooling"),
        (("Dense", "Dense(10, activation='softmax')"), "dense 10 logits + softmax")]
    rows = []
    for prefix, (report, kasc_text) in zip(prefixes, reports):
        layers = [l for l in audit.layers if l.name == prefix or l.name.startswith(prefix + "_")]
        if prefix == "logits":
            layers += [l for l in audit.layers if l.name == "probabilities"]
        rows.append({
            "report_layer": report[0], "report_text": report[1], "kasc": kasc_text,
            "layers": [l.name for l in layers], "output_shape": layers[-1].output_shape,
            "params": sum(l.params for l in layers), "macs": sum(l.macs for l in layers),
        })
    return rows


def markdown(width: int = 32, first_stride: int = 2) -> str:
    rows = serfr_rows(width, first_stride)
    lines = [f"SERFR-CNN-{width}, Convolution(1) stride {first_stride}, input (28 frames, 256 mels, 1):", "",
             "| report row | report text | kasc layers | output shape | params (Keras, float32) | MACs |",
             "| --- | --- | --- | --- | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['report_layer']} | {r['report_text']} | {r['kasc']} (`{r['layers'][0]}`"
                     f"{' ... `' + r['layers'][-1] + '`' if len(r['layers']) > 1 else ''}) | "
                     f"{tuple(r['output_shape'])} | {r['params']:,} | {r['macs']:,} |")
    total_params, total_macs = sum(r["params"] for r in rows), sum(r["macs"] for r in rows)
    verdict = "within" if total_macs <= DCASE2023_MAX_MACS else "OVER"
    lines.append(f"| **total** | | | | **{total_params:,}** | **{total_macs:,}** ({verdict} the 30 M limit) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=describe(__doc__))
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--first-stride", type=int, default=2)
    args = parser.parse_args()
    print(markdown(args.width, args.first_stride))


if __name__ == "__main__":
    main()
