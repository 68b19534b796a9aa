"""The confusion matrix as a picture (``confusion.png``, TensorBoard)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kasc.files.atomic import atomic_path


def save_confusion_png(path: Path, matrix, class_names: list[str], title: str) -> Path:
    """Row-normalised confusion matrix as a PNG (counts written in the cells)."""
    figure = confusion_figure(matrix, class_names, title)
    # matplotlib only when a picture is drawn
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)
    return path


def confusion_figure(matrix, class_names: list[str], title: str):
    """A matplotlib figure of the row-normalised confusion matrix."""
    # matplotlib only when a picture is drawn
    import matplotlib

    matplotlib.use("Agg")
    # pyplot after the Agg backend is chosen (no display here)
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 2.0 + 0.55 * len(class_names)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(class_names)), class_names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=9)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            if matrix[i, j]:
                axes.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                          color="white" if rates[i, j] > 0.5 else "black")
    figure.tight_layout()
    return figure
