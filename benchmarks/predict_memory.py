"""Peak memory of ``kasc.predict --timeline`` on a long recording against a short one, in
the same run: a 10 s and a 1-hour 16 kHz WAV of noise (the length, not the content,
matters), each predicted by a fresh ``python -m kasc.predict MODEL FILE --timeline CSV``;
the peak resident memory of each child process (``os.wait4``'s ``ru_maxrss``) is compared.
Long files are decoded and predicted block by block (``kasc.deployment.predictor``), so the
hour should peak within TARGET_EXTRA_MB of the 10 s file, which is mostly TensorFlow itself.

Usage: python benchmarks/predict_memory.py [--model saved_models/us8k_student] [--minutes 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
TARGET_EXTRA_MB = 150


def peak_mb(model: Path, audio: Path, out: Path) -> tuple[float, float]:
    """(peak resident MB, seconds) of one prediction in a fresh process (``os.wait4``: that
    child's own rusage)."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "kasc.predict", str(model), str(audio), "--timeline", str(out)],
                             cwd=REPO, stdout=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"kasc.predict {audio} exited with {child.returncode}")
    return usage.ru_maxrss / 1024.0, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "saved_models" / "us8k_student")
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rng = np.random.default_rng(0)
        lengths = {"10 s": 10.0, f"{args.minutes:g} min": args.minutes * 60.0}
        for name, seconds in lengths.items():  # written in blocks: this process stays small too
            with sf.SoundFile(folder / f"{seconds:g}.wav", "w", 16000, 1, subtype="PCM_16") as handle:
                for start in range(0, int(seconds), 60):
                    handle.write((rng.normal(0, 0.05, int(min(60, seconds - start) * 16000))).astype(np.float32))
        results = {}
        for name, seconds in lengths.items():
            results[name] = peak_mb(args.model, folder / f"{seconds:g}.wav", folder / f"{seconds:g}.csv")
            size = (folder / f"{seconds:g}.wav").stat().st_size / 1e6
            print(f"{name:>8} ({size:7.1f} MB WAV): peak {results[name][0]:7.0f} MB, {results[name][1]:6.1f} s")
    (short, _), (long, _) = results.values()
    print(f"the long file peaks {long - short:+.0f} MB over the short one (target: at most +{TARGET_EXTRA_MB} MB): "
          f"{'PASS' if long - short <= TARGET_EXTRA_MB else 'FAIL'}")


if __name__ == "__main__":
    main()
