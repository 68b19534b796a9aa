"""The README's timeline picture: ten minutes of UrbanSound8K fold-2 clips joined into one
recording, two minutes per class (street music, drilling, children playing, dog bark, engine
idling: 30 clips of 4 s each, in metadata order), labelled by the shipped
``saved_models/us8k_student`` with ``kasc.predict --timeline --smooth 5``.

The shipped student was trained on every UrbanSound8K dev clip (folds 1 and 2), these
included: the picture shows what the tool draws, not how well the model generalises (for
that, the cross-validation in docs/studies/distillation.md).

Usage: python experiments/timeline_picture.py [--out docs/timeline.png]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
US8K = REPO.parent / "shared" / "data" / "us8k-dev"
CLASSES = ("street_music", "drilling", "children_playing", "dog_bark", "engine_idling")
CLIPS_PER_CLASS = 30
RATE = 22050


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "timeline.png")
    parser.add_argument("--model", type=Path, default=REPO / "saved_models" / "us8k_student")
    args = parser.parse_args()
    rows = [r for r in csv.DictReader(open(US8K / "metadata.csv")) if r["fold"] == "2"]
    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "ten_minutes_of_us8k_fold2.wav"
        with sf.SoundFile(recording, "w", RATE, 1, subtype="PCM_16") as out:
            for name in CLASSES:
                for row in [r for r in rows if r["class"] == name][:CLIPS_PER_CLASS]:
                    samples, rate = sf.read(US8K / "audio" / "fold2" / row["slice_file_name"], dtype="float32")
                    assert rate == RATE, f"{row['slice_file_name']}: {rate} Hz"
                    samples = samples if samples.ndim == 1 else samples.mean(axis=1)
                    out.write(np.pad(samples, (0, max(0, 4 * RATE - len(samples))))[:4 * RATE])
        subprocess.run([sys.executable, "-m", "kasc.predict", str(args.model), str(recording), "--timeline",
                        str(Path(tmp) / "timeline.csv"), "--smooth", "5", "--timeline-plot", str(args.out)],
                       check=True, cwd=REPO)


if __name__ == "__main__":
    main()
