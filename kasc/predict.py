"""Predict the scene of audio files: ``python -m kasc.predict MODEL AUDIO... [--output out.csv]``.

MODEL is a run folder, or a ``.keras`` / ``.tflite`` file inside one (the run's
``config.yaml`` gives the front end and ``metrics.json`` the class names). A waveform-in
``model_waveform_int8.tflite`` takes the windows' samples themselves (its front end is
inside); every other model takes kasc's log-mel of them. AUDIO are files
or folders (searched recursively for .wav, .flac, .ogg, .aiff, .mp3), any sample rate and
channel count: each is decoded, mixed to mono and resampled as in training, cut into
consecutive windows of the run's clip length (a shorter file is zero padded), and its
probabilities are the mean over the windows. Prints label and confidence per file;
``--output`` writes the DCASE output CSV. A file that cannot be read is reported by name
(on stderr, exit status 1) and the others still get predictions: ``--output`` is always
rewritten, with its header and the rows that succeeded (only the header if none did), so
an old file is never mistaken for this run's. Silent or near-silent files (RMS below
``QUIET_DBFS``) are predicted, with a warning on stderr: their scene is a guess.
``--timeline CSV`` adds one row per window, the scene over time (``kasc.deployment.timeline``);
``--hop SECONDS`` starts a window every SECONDS (overlapping windows when less than the
clip). Files longer than two minutes are decoded and predicted block by block, so memory
does not grow with a recording's length.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kasc.cli import describe, prog
from kasc.config import ConfigError
from kasc.data.audio import quiet_note
from kasc.deployment.timeline import plot_timeline, timeline_table
from kasc.evaluation.output_csv import write_predictions
from kasc.files.atomic import atomic_path
from kasc.files.interrupts import Interrupted, interruptible
from kasc.files.prediction_paths import clobbered_input, find_audio, unusable_output

if TYPE_CHECKING:
    from kasc.deployment.predictor import Predictor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.predict"), description=describe(__doc__))
    parser.add_argument("model", type=Path, help="run folder, .keras or .tflite file")
    parser.add_argument("audio", type=Path, nargs="+", help="audio files or folders")
    parser.add_argument("--output", type=Path, default=None, help="write the DCASE output CSV here")
    parser.add_argument("--config", default=None, help="config (front end) if the model has no run folder")
    parser.add_argument("--timeline", type=Path, default=None, metavar="CSV",
                        help="also write one row per window (file, start_s, end_s, label, probabilities): the scene "
                             "over time of long recordings (kasc.deployment.timeline)")
    parser.add_argument("--hop", type=float, default=None, metavar="SECONDS",
                        help="start a window every SECONDS (default: the clip length, consecutive windows); less "
                             "than the clip length overlaps them")
    parser.add_argument("--smooth", type=int, default=1, metavar="N",
                        help="timeline: median of each class's probability over N centred windows (default 1: none)")
    parser.add_argument("--timeline-plot", type=Path, default=None, metavar="PNG",
                        help="timeline: draw one strip per file, each window coloured by its label")
    args = parser.parse_args(argv)

    # TensorFlow loads here, once the arguments are read: --help and argument errors answer at once
    from kasc.deployment.predictor import Predictor
    if args.hop is not None and not args.hop > 0:
        parser.error(f"--hop must be more than 0 seconds, got {args.hop}")
    if args.smooth < 1:
        parser.error(f"--smooth must be at least 1 window, got {args.smooth}")
    if args.timeline_plot and not args.timeline:
        parser.error("--timeline-plot needs --timeline CSV")


    outputs = {"--output": args.output, "--timeline": args.timeline, "--timeline-plot": args.timeline_plot}
    for option, path in outputs.items():
        if path and (problem := unusable_output(path)):
            print(f"error: {option} {path}: {problem}", file=sys.stderr)
            return 2
    if problem := clobbered_input(outputs, args.model, args.audio):
        print(f"error: {problem}; nothing was written", file=sys.stderr)
        return 2
    try:
        predictor = Predictor(args.model, args.config, hop_seconds=args.hop)
    except (FileNotFoundError, ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    predictor.progress = True
    files = find_audio(args.audio)
    if not files:
        print(f"error: no audio files in {', '.join(map(str, args.audio))}", file=sys.stderr)
        return 2
    names, rows, failed = [], [], []
    windows = [] if args.timeline else None
    try:
        with interruptible():
            predict_all(predictor, files, names, rows, failed, windows)
    except Interrupted as err:
        kept = f"; {args.output} was not written (an earlier file there is left as it was)" if args.output else ""
        print(f"interrupted by {err.name} after {len(names) + len(failed)} of {len(files)} files{kept}",
              file=sys.stderr)
        return err.exit_code
    if args.output:  # always rewritten: an old file must not pass for this run's output
        n_classes = len(predictor.class_names)
        write_predictions(args.output, names, np.stack(rows) if rows else np.zeros((0, n_classes)),
                          predictor.class_names)
        print(f"written: {args.output} ({len(rows)} of {len(files)} files)")
    if args.timeline:
        table = timeline_table(names, windows, predictor.cfg.data.clip_seconds, predictor.class_names, args.smooth,
                               hop_seconds=predictor.hop_samples / predictor.cfg.data.sample_rate)
        with atomic_path(args.timeline) as tmp:
            table.to_csv(tmp, index=False, sep="\t", float_format="%.6f")  # tab-separated, as --output (DCASE)
        print(f"written: {args.timeline} ({len(table)} windows of {predictor.cfg.data.clip_seconds:g} s"
              + (f", median over {args.smooth} windows" if args.smooth > 1 else "") + ")")
        if args.timeline_plot:
            print(f"written: {plot_timeline(table, predictor.class_names, args.timeline_plot)}")
    if failed:
        print(f"{len(failed)} of {len(files)} file(s) could not be read", file=sys.stderr)
        return 1
    return 0


def predict_all(predictor: Predictor, files: list[Path], names: list, rows: list, failed: list,
                windows: list | None = None) -> None:
    """Predict ``files`` in order, printing one line each; fill ``names`` and ``rows``
    (mean probabilities) of the files read, ``windows`` (if given) with each one's window
    probabilities (n_windows, C), and ``failed`` with the files that were not read."""
    for path, per_window, level in predictor.predict_files(files, per_window=True):
        if isinstance(per_window, Exception):
            failed.append(path)
            message = str(per_window)  # AudioReadError names the file itself
            print(f"error: {message if str(path) in message else f'{path}: {message}'}", file=sys.stderr)
            continue
        probabilities = per_window.mean(axis=0)
        if windows is not None:
            windows.append(per_window)
        best = int(np.argmax(probabilities))
        print(f"{path}\t{predictor.class_names[best]}\t{probabilities[best]:.3f}")
        note = quiet_note(level)
        if note:
            print(f"warning: {path}: {note}; its scene is a guess", file=sys.stderr)
        names.append(str(path))
        rows.append(probabilities)


if __name__ == "__main__":
    sys.exit(main())
