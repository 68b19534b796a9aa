"""Does a teacher need the audio its student cannot hear?

Usage: python experiments/band_limited_teacher.py TEACHER_RUN... [--student-rate 16000]

Each TEACHER_RUN (a finished run at its own sample rate, e.g. the AudioSet mn04 teacher at
32 kHz) is scored on its validation clips twice: as it hears them (decoded at its own rate)
and band-limited to what a student at ``--student-rate`` hears (decoded at the student's
rate, then resampled up to the teacher's with soxr: nothing above half the student's rate
is left). Then the ensemble of the runs given (probability average) likewise. A teacher
that loses little has little knowledge the student's front end cannot carry; a teacher that
loses much gives soft targets the student cannot match from its input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("teachers", type=Path, nargs="+")
    parser.add_argument("--student-rate", type=int, default=16000)
    args = parser.parse_args()

    import soxr

    from kasc.config import load_config
    from kasc.data.audio import INT16_SCALE
    from kasc.data.features import LogMel
    from kasc.data.pipeline import at_sample_rate, prepare_splits
    from kasc.evaluation.metrics import classification_metrics
    from kasc.files.runs import RunDir
    from kasc.models import load_model
    from kasc.training.teachers.soft_targets import predict_logits

    ensembles = {"own rate": [], "band-limited": []}
    print(f"| teacher | validation clips | accuracy at its own rate | log loss | accuracy band-limited to "
          f"{args.student_rate // 2} Hz | log loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for path in args.teachers:
        run = RunDir(path)
        cfg = load_config(run.config_file)
        rate = cfg.data.sample_rate
        valid = prepare_splits(cfg.data, ("train", "valid"), progress=False)["valid"]
        at_student = at_sample_rate(cfg.data, valid, args.student_rate, progress=False).waveforms
        limited = np.stack([soxr.resample(clip.astype(np.float32) / INT16_SCALE, args.student_rate, rate)
                            for clip in at_student])
        limited = np.clip(np.round(limited[:, :valid.waveforms.shape[1]] * INT16_SCALE), -32768, 32767).astype(np.int16)
        model, logmel = load_model(run.model_file), LogMel(cfg.features, rate)
        cells = []
        for name, waves in (("own rate", valid.waveforms), ("band-limited", limited)):
            logits = predict_logits(model, waves, logmel)
            probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            ensembles[name].append((probabilities, valid.labels, valid.class_names))
            report = classification_metrics(valid.labels, probabilities, valid.class_names)
            cells += [f"{report['accuracy']:.3f}", f"{report['log_loss']:.3f}"]
        print(f"| {path.name} ({rate} Hz) | {len(valid)} | " + " | ".join(cells) + " |")
    if len(args.teachers) > 1:
        cells = []
        for name in ("own rate", "band-limited"):
            members = ensembles[name]
            if any(not np.array_equal(m[1], members[0][1]) for m in members):
                print("the teachers were validated on different clips: no ensemble row")
                return
            report = classification_metrics(members[0][1], np.mean([m[0] for m in members], axis=0), members[0][2])
            cells += [f"{report['accuracy']:.3f}", f"{report['log_loss']:.3f}"]
        print(f"| ensemble (probability average) | {len(members[0][1])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
