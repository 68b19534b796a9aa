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
``--timeline CSV`` adds one row per window, the scene over time (``kasc.deployment.timeline``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")
FILES_PER_BATCH = 64
"""Files decoded together and run through the model as one batch of windows."""
DECODE_WORKERS = 2
"""Decoding threads."""
WINDOW_BATCH = 256
"""Largest batch of windows given to the model at once."""
QUIET_DBFS = -60.0
"""Files quieter than this RMS level (dB relative to full scale) get a warning."""


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of float samples in [-1, 1], in dB relative to full scale (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def quiet_note(level_dbfs: float) -> str:
    """"" for a normal level, else why the file's prediction means little."""
    if level_dbfs == float("-inf"):
        return "digital silence (every sample is 0)"
    if level_dbfs < QUIET_DBFS:
        return f"near-silent (RMS {level_dbfs:.1f} dBFS, below {QUIET_DBFS:g})"
    return ""


class Predictor:
    """Loads a run's model and front end and predicts files.

    Args:
      model_path: run folder, ``.keras`` or ``.tflite`` file.
      config: config name or YAML path overriding the run's ``config.yaml``.
    """

    def __init__(self, model_path: Path, config: str | None = None):
        from kasc.config import load_config
        from kasc.data.features import LogMel
        from kasc.files.runs import RunDir

        self.progress = False  # True: progress bars on stderr for long recordings (the command sets it)
        run, self.model_file = RunDir.locate(model_path)
        if not self.model_file.is_file():
            raise FileNotFoundError(f"no model at {self.model_file}")
        config_ref = config or (str(run.config_if_any) if run.config_if_any else None)
        if config_ref is None:
            raise FileNotFoundError(f"{run.path} has no config.yaml (the front end); pass --config NAME")
        self.cfg = load_config(config_ref)
        self.class_names = run.metrics().get("class_names")
        if not self.class_names:
            raise FileNotFoundError(f"{run.metrics_file} lists no class_names; predict needs a finished run folder")
        self.logmel = LogMel(self.cfg.features, self.cfg.data.sample_rate)
        self.clip_samples = self.cfg.data.clip_samples
        self.waveform_in = False
        if self.model_file.suffix == ".tflite":
            from kasc.deployment.litert_runner import TFLiteModel

            self._predict = TFLiteModel(self.model_file)
            shape = tuple(int(d) for d in self._predict.input["shape"])
            self.waveform_in = len(shape) == 2
            if self.waveform_in and shape[1] != self.clip_samples:
                raise ValueError(f"{self.model_file}: takes {shape[1]} samples, but its run's config.yaml has clips of "
                                 f"{self.clip_samples} samples (data.clip_seconds x data.sample_rate)")
            self._require_fit(shape, int(self._predict.output["shape"][-1]))
        else:
            import tensorflow as tf

            from kasc.models import load_model

            model = load_model(self.model_file)
            self._require_fit(tuple(model.input_shape), int(model.output_shape[-1]))
            # one trace for every batch size (the window count varies from call to call)
            call = tf.function(lambda spectra: model(spectra, training=False), reduce_retracing=True)
            self._predict = lambda spectra: np.asarray(call(spectra))

    def _require_fit(self, input_shape: tuple, n_outputs: int) -> None:
        """The model must be the one its run describes: as many outputs as the run's class
        names, and (for a log-mel model) the mel bands and frame count of its front end.

        Raises:
          ValueError: one line naming the model file, what it has and what the run says.
        """
        if n_outputs != len(self.class_names):
            raise ValueError(f"{self.model_file}: predicts {n_outputs} classes, but its run names "
                             f"{len(self.class_names)} ({', '.join(self.class_names[:4])}...): not this run's model")
        if self.waveform_in:
            return
        frames, mels = self.logmel.output_shape(self.clip_samples)[:2]
        given_frames, given_mels = input_shape[1], input_shape[2] if len(input_shape) > 2 else None
        if given_mels != mels or (given_frames not in (None, -1) and given_frames != frames):
            raise ValueError(f"{self.model_file}: takes log-mel of shape {tuple(input_shape[1:])}, but its run's "
                             f"front end gives ({frames}, {mels}, 1) per clip: not this run's model")

    def windows(self, samples: np.ndarray) -> np.ndarray:
        """(n_windows, clip_samples) consecutive windows; the last partial one is dropped
        unless the file is shorter than one window (then zero padded)."""
        n = max(1, len(samples) // self.clip_samples)
        padded = np.zeros(n * self.clip_samples, np.float32)
        used = min(len(samples), len(padded))
        padded[:used] = samples[:used]
        return padded.reshape(n, self.clip_samples)

    def decode_windows(self, path: Path) -> np.ndarray:
        """A file's windows (n_windows, clip_samples), decoded as the training cache is
        (mono, resampled, int16-rounded)."""
        return self.decode(path)[0]

    def decode(self, path: Path) -> tuple[np.ndarray, float]:
        """(the file's windows (n_windows, clip_samples), its RMS level in dBFS)."""
        from kasc.data.audio import from_int16, read_audio, resample, to_int16

        samples, rate = read_audio(path)
        samples = from_int16(to_int16(resample(samples, rate, self.cfg.data.sample_rate)))
        return self.windows(samples), rms_dbfs(samples)

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (n, C) of windows (n, clip_samples), in batches of WINDOW_BATCH;
        with :attr:`progress`, a bar on stderr when there is more than one batch (a long
        recording)."""
        from tqdm import tqdm

        def model_input(batch):
            return batch.astype(np.float32) if self.waveform_in else self.logmel(batch).numpy()

        starts = range(0, len(windows), WINDOW_BATCH)
        starts = tqdm(starts, desc=f"{len(windows)} windows", unit="batch", file=sys.stderr, leave=False,
                      disable=not self.progress or len(starts) < 2)
        out = [self._predict(model_input(windows[start:start + WINDOW_BATCH])) for start in starts]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def predict_file(self, path: Path) -> np.ndarray:
        """Mean probabilities (C,) over the file's windows."""
        return self.probabilities(self.decode_windows(path)).mean(axis=0)

    def predict_files(self, paths: Sequence[Path], files_per_batch: int = FILES_PER_BATCH,
                      workers: int = DECODE_WORKERS, per_window: bool = False
                      ) -> Iterator[tuple[Path, np.ndarray | Exception, float]]:
        """(path, mean probabilities (C,), RMS level in dBFS) for every file in order, or
        (path, the error, nan) for a file that cannot be read; with ``per_window`` the
        probabilities of each window (n_windows, C) instead of their mean.

        Files are decoded by ``workers`` threads (soundfile and soxr release the GIL),
        ``files_per_batch`` at a time, the next group decoding while the model runs on
        the windows of the current one, stacked into one batch.
        """
        from concurrent.futures import ThreadPoolExecutor

        def decode(path):
            try:
                return self.decode(path)
            except (OSError, ValueError) as err:  # AudioReadError names the file and the problem
                return err

        groups = [list(paths[i:i + files_per_batch]) for i in range(0, len(paths), files_per_batch)]
        with ThreadPoolExecutor(max(1, workers)) as pool:
            pending = [pool.submit(decode, p) for p in groups[0]] if groups else []
            for index, group in enumerate(groups):
                decoded = [future.result() for future in pending]
                pending = [pool.submit(decode, p) for p in groups[index + 1]] if index + 1 < len(groups) else []
                good = [d[0] for d in decoded if not isinstance(d, Exception)]
                probs = self.probabilities(np.concatenate(good)) if good else None
                offset = 0
                for path, item in zip(group, decoded):
                    if isinstance(item, Exception):
                        yield path, item, float("nan")
                        continue
                    windows, level = item
                    own = probs[offset:offset + len(windows)]
                    yield path, own if per_window else own.mean(axis=0), level
                    offset += len(windows)


def find_audio(inputs: list[Path]) -> list[Path]:
    """Files given, plus audio files found recursively in folders given (sorted)."""
    files = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        else:
            files.append(item)
    return files


def main(argv: list[str] | None = None) -> int:
    from kasc.cli import describe

    parser = argparse.ArgumentParser(prog="python -m kasc.predict", description=describe(__doc__))
    parser.add_argument("model", type=Path, help="run folder, .keras or .tflite file")
    parser.add_argument("audio", type=Path, nargs="+", help="audio files or folders")
    parser.add_argument("--output", type=Path, default=None, help="write the DCASE output CSV here")
    parser.add_argument("--config", default=None, help="config (front end) if the model has no run folder")
    parser.add_argument("--timeline", type=Path, default=None, metavar="CSV",
                        help="also write one row per window (file, start_s, end_s, label, probabilities): the scene "
                             "over time of long recordings (kasc.deployment.timeline)")
    parser.add_argument("--smooth", type=int, default=1, metavar="N",
                        help="timeline: median of each class's probability over N centred windows (default 1: none)")
    parser.add_argument("--timeline-plot", type=Path, default=None, metavar="PNG",
                        help="timeline: draw one strip per file, each window coloured by its label")
    args = parser.parse_args(argv)
    if args.smooth < 1:
        parser.error(f"--smooth must be at least 1 window, got {args.smooth}")
    if args.timeline_plot and not args.timeline:
        parser.error("--timeline-plot needs --timeline CSV")

    from kasc.config import ConfigError
    from kasc.evaluation.output_csv import write_predictions

    from kasc.files.interrupts import Interrupted, interruptible

    outputs = {"--output": args.output, "--timeline": args.timeline, "--timeline-plot": args.timeline_plot}
    for option, path in outputs.items():
        if path and (problem := unusable_output(path)):
            print(f"error: {option} {path}: {problem}", file=sys.stderr)
            return 2
    if problem := clobbered_input(outputs, args.model, args.audio):
        print(f"error: {problem}; nothing was written", file=sys.stderr)
        return 2
    try:
        predictor = Predictor(args.model, args.config)
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
        from kasc.files.atomic import atomic_path
        from kasc.deployment.timeline import plot_timeline, timeline_table

        table = timeline_table(names, windows, predictor.cfg.data.clip_seconds, predictor.class_names, args.smooth)
        with atomic_path(args.timeline) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6f")
        print(f"written: {args.timeline} ({len(table)} windows of {predictor.cfg.data.clip_seconds:g} s"
              + (f", median over {args.smooth} windows" if args.smooth > 1 else "") + ")")
        if args.timeline_plot:
            print(f"written: {plot_timeline(table, predictor.class_names, args.timeline_plot)}")
    if failed:
        print(f"{len(failed)} of {len(files)} file(s) could not be read", file=sys.stderr)
        return 1
    return 0


def unusable_output(path: Path) -> str:
    """Why ``path`` cannot take the output CSV ("" if it can): checked before any work."""
    import os

    if path.is_dir():
        return "is a directory; give a file name, e.g. predictions.csv"
    folder = (path.parent if str(path.parent) else Path(".")).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())  # missing folders are created
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "cannot be written (permissions)"
    return ""


def clobbered_input(outputs: dict[str, Path], model: Path, audio: list[Path]) -> str:
    """Why the output files ``outputs`` (option -> path) would destroy something ("" if not):
    two options naming one file, an audio file given to label (by name, a shell glob, or in a
    folder given), or a file of the model or of its run folder. Checked before any work."""
    given = {option: path.resolve() for option, path in outputs.items() if path}
    seen: dict[Path, str] = {}
    for option, path in given.items():
        if path in seen:
            return f"{seen[path]} and {option} name the same file {outputs[option]}: only one would survive"
        seen[path] = option
    audio_files = {p.resolve() for p in find_audio([a for a in audio if a.exists()])}
    model_folder = model.resolve() if model.is_dir() else model.resolve().parent
    for option, path in given.items():
        if path in audio_files:
            return f"{option} {outputs[option]} is one of the audio files to label: it would be replaced"
        if path == model.resolve() or (path.is_file() and path.parent == model_folder
                                       and (model.is_dir() or (model_folder / "config.yaml").is_file())):
            return f"{option} {outputs[option]} is a file of the model's run folder {model_folder}: it would be replaced"
    return ""


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
