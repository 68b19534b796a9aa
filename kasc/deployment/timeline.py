"""Scene timelines of long recordings: one row per window instead of one label per file.

``python -m kasc.predict MODEL AUDIO... --timeline out.csv [--smooth N] [--timeline-plot out.png]``
cuts each file into consecutive windows of the run's clip length (as prediction always
does) and writes, per window, the file, its start and end in seconds, the label and the
class probabilities. ``--smooth N`` replaces each window's probabilities by the median,
class by class, over the N windows centred on it (fewer at the file's ends), renormalised
to sum to 1: a median ignores a single odd window (a door slam in a park) where a mean
would let it tip its neighbours, and a change of scene that lasts longer than N / 2
windows still shows, at the same place. ``--timeline-plot`` draws one strip per file, the
label of each window as a colour along the time axis (minutes for long files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


def smooth(probabilities: np.ndarray, windows: int) -> np.ndarray:
    """Centred running median over ``windows`` windows (odd counts centre exactly), per
    class, renormalised; ``windows`` <= 1 returns the probabilities unchanged.

    Args:
      probabilities: (n_windows, n_classes).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if windows <= 1 or len(probabilities) <= 1:
        return probabilities
    half_before, half_after = (windows - 1) // 2, windows // 2
    out = np.empty_like(probabilities)
    for i in range(len(probabilities)):
        out[i] = np.median(probabilities[max(0, i - half_before):i + half_after + 1], axis=0)
    total = out.sum(axis=1, keepdims=True)
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / probabilities.shape[1])


def timeline_table(files: Sequence[str], window_probabilities: Sequence[np.ndarray], window_seconds: float,
                   class_names: Sequence[str], smooth_windows: int = 1, hop_seconds: float | None = None
                   ) -> pd.DataFrame:
    """One row per window of each file: ``file``, ``start_s``, ``end_s``, ``label`` and one
    probability column per class (sorted class order, as the DCASE output); windows start
    every ``hop_seconds`` (default: ``window_seconds``, consecutive windows)."""
    hop_seconds = window_seconds if hop_seconds is None else hop_seconds
    order = np.argsort(np.asarray(class_names, dtype=object))
    names = [class_names[i] for i in order]
    parts = []
    for name, probabilities in zip(files, window_probabilities):
        probs = smooth(probabilities, smooth_windows)[:, order]
        starts = np.arange(len(probs)) * hop_seconds
        part = pd.DataFrame(probs, columns=names)
        part.insert(0, "label", [names[i] for i in probs.argmax(axis=1)])
        part.insert(0, "end_s", np.round(starts + window_seconds, 3))
        part.insert(0, "start_s", np.round(starts, 3))
        part.insert(0, "file", name)
        parts.append(part)
    columns = ["file", "start_s", "end_s", "label", *names]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def plot_timeline(table: pd.DataFrame, class_names: Sequence[str], png: str | Path) -> Path:
    """One horizontal strip per file, each window coloured by its label, a legend of the
    classes seen; the time axis in minutes when a file is longer than 5 minutes."""
    # matplotlib only when a picture is drawn
    import matplotlib

    matplotlib.use("Agg")
    # pyplot after the Agg backend is chosen (no display here)
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names = sorted(class_names)
    index = {name: i for i, name in enumerate(names)}
    colours = plt.get_cmap("tab20" if len(names) > 10 else "tab10")(np.arange(len(names)) % 20)
    files = list(dict.fromkeys(table["file"]))
    longest = float(table["end_s"].max()) if len(table) else 1.0
    scale, unit = (60.0, "min") if longest > 300 else (1.0, "s")
    seen = sorted(set(table["label"]))
    legend_rows = -(-len(seen) // 5) if seen else 1
    legend_inches, strip_inches = 0.25 * legend_rows + 0.15, 0.5
    height = legend_inches + 0.6 + strip_inches * max(len(files), 1)
    fig, axes = plt.subplots(len(files) or 1, 1, figsize=(11, height), squeeze=False, sharex=True)
    for ax, name in zip(axes[:, 0], files):
        rows = table[table["file"] == name]
        labels = np.array([index[label] for label in rows["label"]])[None, :]
        ax.imshow(labels, aspect="auto", cmap=ListedColormap(colours), vmin=-0.5, vmax=len(names) - 0.5,
                  extent=(0.0, float(rows["end_s"].max()) / scale, 0, 1), interpolation="nearest")
        ax.set_yticks([])
        ax.set_ylabel(Path(name).name[:28], rotation=0, ha="right", va="center", fontsize=8)
        ax.set_xlim(0, longest / scale)
    axes[-1, 0].set_xlabel(f"time ({unit})")
    fig.legend(handles=[Patch(color=colours[index[n]], label=n) for n in seen], loc="upper center",
               ncol=min(len(seen), 5) or 1, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - legend_inches / height))
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
