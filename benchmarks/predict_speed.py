"""Prediction speed of ``kasc.predict`` on real files: files/s, batched and parallel
(``Predictor.predict_files``) against one file at a time (``Predictor.predict_file``,
the previous implementation), on the same files in the same run.

Usage: python benchmarks/predict_speed.py [--files 400] [--folder ../shared/data/us8k-dev/audio/fold2]

The model is an untrained SERFR-CNN-32 in a temporary run folder with the ``us8k``
config (1 s windows of 16 kHz audio; speed does not depend on the weights). The
UrbanSound8K files are 4 s, 22.05 kHz FLAC: each is decoded, resampled to 16 kHz, cut
into four 1 s windows, turned into log-mel and classified. Both paths are timed end to
end (decoding included) after one untimed warm-up file; the batched path runs first on
half the files and last on the other half, one file at a time in between, and each
path's rate is over all the files it ran. The outputs of both paths are compared.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_FILES_PER_SECOND = 100


def make_run(folder: Path):
    import keras

    from kasc.files.atomic import write_json
    from kasc.config import load_config
    from kasc.data.datasets import load_split
    from kasc.data.table import class_names
    from kasc.models import build_model
    from kasc.files.runs import RunDir

    cfg = load_config("us8k_plain_student")
    classes = class_names(load_split(cfg.data, "train"))
    run = RunDir(folder)
    run.start(cfg)
    keras.utils.set_random_seed(0)
    run.save_model(build_model("serfr_cnn", (None, cfg.features.n_mels, 1), len(classes), width=32))
    write_json(run.metrics_file, {"class_names": classes})
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--folder", type=Path, default=REPO.parent / "shared" / "data" / "us8k-dev" / "audio" / "fold2")
    args = parser.parse_args()
    if not args.folder.is_dir():
        sys.exit(f"no audio folder at {args.folder}")

    import numpy as np

    from kasc.deployment.predictor import Predictor
    from kasc.files.prediction_paths import find_audio

    files = find_audio([args.folder])[:args.files]
    with tempfile.TemporaryDirectory() as tmp:
        predictor = Predictor(make_run(Path(tmp) / "run").path)
        predictor.predict_file(files[0])  # warm-up (traces the model)
        list(predictor.predict_files(files[:2]))
        half = len(files) // 2
        start = time.perf_counter()
        batched = {path: probs for path, probs, _ in predictor.predict_files(files[:half])}
        batched_seconds = time.perf_counter() - start
        start = time.perf_counter()
        single = {path: predictor.predict_file(path) for path in files}
        single_seconds = time.perf_counter() - start
        start = time.perf_counter()
        batched.update((path, probs) for path, probs, _ in predictor.predict_files(files[half:]))
        batched_seconds += time.perf_counter() - start
    largest = max(float(np.abs(batched[p] - single[p]).max()) for p in files)
    rate, old_rate = len(files) / batched_seconds, len(files) / single_seconds
    print(f"kasc.predict on {len(files)} files of {args.folder} ({os.cpu_count()} CPU cores), SERFR-CNN-32, 1 s windows:")
    print(f"  batched, parallel decoding (predict_files):  {rate:7.1f} files/s")
    print(f"  one file at a time (predict_file):           {old_rate:7.1f} files/s")
    print(f"  speed-up {rate / old_rate:.2f}x; largest probability difference between the two: {largest:.2e}")
    print(f"target >= {TARGET_FILES_PER_SECOND} files/s: {'met' if rate >= TARGET_FILES_PER_SECOND else 'NOT met'}")


if __name__ == "__main__":
    main()
