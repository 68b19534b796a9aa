"""The two data sets of the own_data cross-validation, as a user would hand them to kasc: a
folder of audio and a labels.csv (filename, label, split), split = the UrbanSound8K fold
(fold1 / fold2) so that one manifest serves both directions.

  us8k:   UrbanSound8K dev (../shared/data/us8k-dev), the files as they are (44.1 / 48 kHz
          and others, up to 4 s), listed in place.
  unlike: a condition unlike UrbanSound8K, built from the same clips: 0.5 s around each
          clip's loudest part (the 50 ms frame of highest energy at the centre, moved
          inwards at the edges; shorter clips kept whole), resampled to 8 kHz, 16-bit WAV.

  python experiments/own_data_cv/make_data.py OUT_DIR
writes OUT_DIR/us8k/labels.csv and OUT_DIR/unlike/{labels.csv,audio/}; existing files are kept.
"""

import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from kasc.data.audio import read_audio, resample

SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "us8k-dev"
RATE, SECONDS, FRAME_SECONDS = 8000, 0.5, 0.05


def loudest_excerpt(samples: np.ndarray, rate: int, seconds: float = SECONDS) -> np.ndarray:
    """``seconds`` of ``samples`` centred on its 50 ms frame of highest energy."""
    length = int(round(seconds * rate))
    if len(samples) <= length:
        return samples
    frame = max(1, int(round(FRAME_SECONDS * rate)))
    energy = np.convolve(np.square(samples.astype(np.float64)), np.ones(frame), mode="same")
    start = int(np.clip(int(np.argmax(energy)) - length // 2, 0, len(samples) - length))
    return samples[start:start + length]


def main(out: Path) -> None:
    rows = list(csv.DictReader(open(SOURCE / "metadata.csv")))
    for name in ("us8k", "unlike"):
        (out / name).mkdir(parents=True, exist_ok=True)
    with open(out / "us8k" / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "label", "split"])
        for row in rows:
            writer.writerow([SOURCE / "audio" / f"fold{row['fold']}" / row["slice_file_name"], row["class"],
                             f"fold{row['fold']}"])
    audio = out / "unlike" / "audio"
    audio.mkdir(exist_ok=True)
    with open(out / "unlike" / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "label", "split"])
        for row in rows:
            target = audio / (Path(row["slice_file_name"]).stem + ".wav")
            if not target.exists():
                samples, rate = read_audio(SOURCE / "audio" / f"fold{row['fold']}" / row["slice_file_name"])
                excerpt = loudest_excerpt(resample(samples, rate, RATE), RATE)
                sf.write(str(target) + ".part.wav", excerpt, RATE, subtype="PCM_16")
                Path(str(target) + ".part.wav").rename(target)
            writer.writerow([f"audio/{target.name}", row["class"], f"fold{row['fold']}"])
    print(f"written: {out}/us8k/labels.csv, {out}/unlike/labels.csv ({len(rows)} clips each)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
