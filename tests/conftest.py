"""Shared fixtures: the shared real-audio folder and small generated datasets."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The tests run on TensorFlow's Eigen CPU kernels unless told otherwise: the path
# TensorFlow takes by itself on CPUs without AVX-512, and the stricter one (Eigen refuses
# unequal depthwise strides, oneDNN accepts them). kasc's own default is oneDNN
# (kasc/__init__.py); TF_ENABLE_ONEDNN_OPTS=1 python -m pytest tests that path, and
# test_cpu_paths.py compares the two.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path inside ../shared/data, skipping the test with a reason if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (clone kasc next to the shared/ folder)")
    return path


@pytest.fixture
def tau22_mini() -> Path:
    return shared_path("tau22-mini")


@pytest.fixture
def real_clips() -> Path:
    return shared_path("real-clips")


def write_tone(path: Path, seconds: float = 1.0, rate: int = 44100, freq: float = 440.0,
               channels: int = 1, subtype: str = "PCM_24") -> np.ndarray:
    """Write a sine tone file; return the samples written (frames, channels)."""
    t = np.arange(int(round(seconds * rate))) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    data = np.stack([mono * (c + 1) / channels for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, subtype=subtype)
    return data


def write_tau_dataset(root: Path, names_labels: list[tuple[str, str]], train: list[str], evaluate: list[str],
                      seconds: float = 1.0, rate: int = 44100) -> Path:
    """A tiny TAU-layout dataset (meta.csv, evaluation_setup/, audio/) with tones."""
    lines = ["filename\tscene_label\tidentifier\tsource_label"]
    for i, (name, label) in enumerate(names_labels):
        fields = Path(name).stem.split("-")
        write_tone(root / name, seconds, rate, freq=200.0 + 50 * i)
        lines.append(f"{name}\t{label}\t{fields[1]}-{fields[2]}\t{fields[-1]}")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    setup = root / "evaluation_setup"
    setup.mkdir(parents=True, exist_ok=True)
    label_of = dict(names_labels)
    for split, names in (("fold1_train", train), ("fold1_evaluate", evaluate)):
        (setup / f"{split}.csv").write_text(
            "filename\tscene_label\n" + "".join(f"{n}\t{label_of[n]}\n" for n in names))
    (setup / "fold1_test.csv").write_text("filename\n" + "".join(f"{n}\n" for n in evaluate))
    return root


SCENES = ("bus", "park")


@pytest.fixture(scope="module")
def tiny_tau(tmp_path_factory) -> Path:
    """Two scenes, 8 training and 4 validation 1 s clips at 16 kHz (two recordings of
    two segments per scene in training)."""
    root = tmp_path_factory.mktemp("tau")
    names = []
    for scene in SCENES:
        for recording in (1, 2, 3):
            for segment in (0, 1):
                names.append((f"audio/{scene}-lisbon-{recording}-{recording}0-{segment}-a.wav", scene))
    train = [n for n, _ in names if "-3-" not in n]
    evaluate = [n for n, _ in names if "-3-" in n]
    return write_tau_dataset(root, names, train, evaluate, seconds=1.0, rate=16000)


def tiny_config(tmp_path: Path, name: str, data_root: Path, extra: str = "", base: str = "student") -> Path:
    """A YAML config of a width-4 SERFR-CNN on ``data_root``, 2 epochs, no export; ``extra`` YAML overrides
    (in a file extending the tiny settings, so that it may repeat their sections: a key given
    twice in one file is an error)."""
    tiny = tmp_path / f"{name}.tiny.yaml"
    tiny.write_text(f"""extends: {base}
data: {{root: {data_root}, cache_dir: {tmp_path / 'cache' / 'audio'}}}
model: {{architecture: serfr_cnn, params: {{width: 4, head_channels: 8}}, check_limits: false}}
train: {{epochs: 2, batch_size: 4, warmup_epochs: 1, decay_end_epoch: 2, export: false}}
""")
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"extends: {tiny}\n{extra}")
    return path
