"""Dataset statistics and a picture of log-mel spectrograms.

Usage::

    python -m kasc.data default                      # a named config's dataset
    python -m kasc.data ../shared/data/tau22-mini    # a TAU22/TAU20 folder
    python -m kasc.data us8k --png outputs/us8k.png --set data.max_clips_per_split=40

Prints clips per class and device and hours for the training and validation splits and
caches their audio; with ``--png FILE`` it also draws a few log-mel spectrograms of the
training split (one per class, as the model sees them: after the front end, without
augmentation). Without ``--png`` nothing is written where it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from kasc.cli import describe, prog
from kasc.config import ConfigError, ExperimentConfig, load_config
from kasc.data.audio import AudioReadError, from_int16
from kasc.data.survey import data_notes, survey_split, with_clip_length
from kasc.data.table import DatasetError, summarize, read_csv


def config_for_folder(folder: Path) -> ExperimentConfig:
    """The default config pointed at a TAU22 or TAU20 folder (layout from its file names)."""
    meta = read_csv(folder / "meta.csv", ["filename"])
    if len(meta) == 0:
        raise DatasetError(f"{folder / 'meta.csv'}: no rows")
    layout = "tau22" if len(Path(meta["filename"].iloc[0]).stem.split("-")) == 6 else "tau20"
    clip = "1.0" if layout == "tau22" else "10.0"
    return load_config("default", [f"data.root={folder.resolve()}", f"data.format={layout}",
                                   f"data.clip_seconds={clip}"])


def print_summary(split: str, stats: dict) -> None:
    """One block of statistics per split."""
    audio = "" if stats.get("audio_hours") is None else f" ({stats['audio_hours']:.3f} h of audio in the files)"
    print(f"\n{split}: {stats['clips']} clips, {stats['hours']:.3f} h of windows{audio}")
    width = max(len(k) for k in stats["per_class"]) + 2
    print("  per class:")
    for name, count in stats["per_class"].items():
        print(f"    {name:<{width}}{count:>8}")
    print("  per device:", ", ".join(f"{k}: {v}" for k, v in stats["per_device"].items()))


def plot_spectrograms(cfg: ExperimentConfig, split_data, png: Path, max_panels: int = 10) -> None:
    """One panel per class (first clip of each), log-mel in the model's orientation."""
    # matplotlib only when a picture is drawn
    import matplotlib

    matplotlib.use("Agg")
    # pyplot after the Agg backend is chosen (no display here)
    import matplotlib.pyplot as plt
    from kasc.data.features import LogMel, mel_band_edges_hz  # TensorFlow (the front end) only for --png

    logmel = LogMel(cfg.features, cfg.data.sample_rate)
    first = {}
    for row, label in enumerate(split_data.table["label"]):
        first.setdefault(label, row)
    rows = [first[k] for k in sorted(first)][:max_panels]
    spectra = logmel(from_int16(split_data.waveforms[rows])).numpy()[..., 0]
    cols = min(5, len(rows))
    fig, axes = plt.subplots((len(rows) + cols - 1) // cols, cols, figsize=(3.2 * cols, 3.0 * ((len(rows) + cols - 1) // cols)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    features = cfg.features
    centres_hz = mel_band_edges_hz(features.n_mels, features.fmin_hz, features.fmax_hz or cfg.data.sample_rate / 2,
                                   features.mel_scale)[1:-1]
    seconds = spectra.shape[1] * features.hop_samples / cfg.data.sample_rate  # frame starts, one hop each
    ticks = np.linspace(0, features.n_mels - 1, 5).round().astype(int)
    for ax, row, spec in zip(axes.flat, rows, spectra):
        ax.axis("on")
        image = ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma",
                          extent=(0.0, seconds, -0.5, features.n_mels - 0.5))
        ax.set_title(f"{split_data.table['label'][row]}\n{Path(split_data.table['filename'][row]).name[:32]}", fontsize=7)
        ax.set_xlabel("time (s)")
        ax.set_yticks(ticks, [f"{centres_hz[t] / 1000:.1f}k" if centres_hz[t] >= 1000 else f"{centres_hz[t]:.0f}"
                              for t in ticks])
        ax.set_ylabel("mel band centre (Hz)")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f"{cfg.name}: log-mel ({cfg.features.n_mels} bands, {cfg.features.mel_scale} scale), "
                 f"{spectra.shape[1]} frames per {cfg.data.clip_seconds:g} s", fontsize=9)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("kasc.data"), description=describe(__doc__))
    parser.add_argument("target", nargs="?", default="default", help="config name/YAML or a TAU dataset folder")
    parser.add_argument("--profile", help="config profile to apply (e.g. fast)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, repeatable (e.g. data.max_clips_per_split=50)")
    parser.add_argument("--png", type=Path, default=None,
                        help="draw log-mel spectrograms of training clips into this PNG (nothing is written without it)")
    args = parser.parse_args(argv)

    # TensorFlow (the front end) only when the data is read: --help answers at once
    from kasc.data.pipeline import prepare_splits

    try:
        target = Path(args.target)
        if target.is_dir():
            cfg = config_for_folder(target)
            if args.overrides or args.profile:
                raise ConfigError("--set/--profile apply to configs, not to a dataset folder")
        else:
            cfg = load_config(args.target, args.overrides, args.profile)
        surveys = {split: survey_split(cfg.data, split) for split in ("train", "valid")}
        cfg = with_clip_length(cfg, surveys["train"])
        splits = prepare_splits(cfg.data, label=cfg.name)
    except (ConfigError, DatasetError, AudioReadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"dataset: {cfg.data.format} at {cfg.data.root or cfg.data.manifest} "
          f"({cfg.data.sample_rate} Hz, {cfg.data.clip_seconds:g} s clips, {len(splits['train'].class_names)} classes)")
    if cfg.data.clip_length == "median":
        print(f"clip length {cfg.data.clip_seconds:g} s: the training files' median duration "
              f"{surveys['train'].median_seconds:.2f} s (data.clip_length median)")
    for note in data_notes(cfg.data, cfg.augment, surveys["train"]):
        print(f"note: {note}")
    for split, data in splits.items():
        print_summary(split, summarize(data.table, cfg.data.clip_seconds, surveys[split].audio_hours()))
    if args.png is None:
        print("\n(--png FILE draws log-mel spectrograms of training clips)")
        return 0
    try:
        plot_spectrograms(cfg, splits["train"], args.png)
    except OSError as err:
        print(f"error: --png {args.png}: cannot be written ({err.strerror or err})", file=sys.stderr)
        return 2
    print(f"\nlog-mel spectrograms written to {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
