"""What the evaluate stage draws and writes for DVC's plots: the figures of the report and their data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convpipe.data.images import load_image, resize
from convpipe.evaluate import explain, metrics, plots, retrieval


@dataclass(frozen=True)
class Scored:
    """A split as the model saw it: pixels (0-255), true labels and predicted probabilities."""

    images: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        """The most probable class of each image."""
        return self.probabilities.argmax(axis=1)

    def caption(self, i: int, names: list[str]) -> str:
        """'true 3 → 8 (0.97)' for image i's grid cell."""
        return f"true {names[self.labels[i]]} → {names[self.predicted[i]]} ({self.probabilities[i].max():.2f})"


@dataclass(frozen=True)
class Findings:
    """What the report shows of the test split, beside the model itself."""

    test: Scored
    names: list[str]  # class names, in label order
    curves: dict  # precision-recall curve per class
    bins: list[dict]  # reliability diagram bins
    ece: float
    history: list[dict]  # train then finetune epochs
    tsne: np.ndarray  # 2-D map of the first test embeddings


def write_rows(rows: list[dict], path: Path) -> None:
    """A list of flat dicts as CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_plot_data(out: Path, found: Findings) -> None:
    """The CSV files that dvc.yaml's plots: draw."""
    test, names = found.test, found.names
    write_rows(metrics.confusion_rows(test.labels, test.predicted, names), out / "confusion.csv")
    write_rows(found.history, out / "learning_curve.csv")
    write_rows(metrics.precision_recall_rows(found.curves), out / "precision_recall.csv")
    write_rows(found.bins, out / "reliability.csv")
    write_rows(
        [
            {"x": float(x), "y": float(y), "class": names[label]}
            for (x, y), label in zip(found.tsne, test.labels[: len(found.tsne)])
        ],
        out / "tsne.csv",
    )


def draw_figures(out: Path, model, found: Findings, settings) -> None:
    """Every PNG of the report; `settings` is params' evaluate section."""
    test, names = found.test, found.names
    plots.learning_curves(found.history, out / "learning_curves.png")
    plots.confusion_matrices(
        metrics.confusion_counts(test.labels, test.predicted, len(names)), names, out / "confusion_matrix.png"
    )
    plots.precision_recall(found.curves, out / "precision_recall.png")
    plots.reliability(found.bins, settings.calibration_bins, found.ece, out / "reliability.png")
    worst = metrics.worst_misclassified(test.labels, test.probabilities, settings.worst_images)
    plots.image_grid(
        test.images[worst],
        [test.caption(i, names) for i in worst],
        f"Most confident mistakes: {len(worst)} of {int((test.predicted != test.labels).sum())} "
        "misclassified test images",
        out / "misclassified.png",
    )
    # The first test image of each class, so every class gets explained once.
    sample = np.sort(np.unique(test.labels, return_index=True)[1])[: settings.gradcam_images]
    heatmaps = explain.gradcam(model, test.images[sample], test.predicted[sample])
    plots.gradcam_grid(test.images[sample], heatmaps, [test.caption(i, names) for i in sample], out / "gradcam.png")
    plots.filters(explain.first_conv_kernel(model), out / "filters.png")
    plots.tsne(found.tsne, test.labels[: len(found.tsne)], names, out / "tsne.png")


def draw_neighbours(
    index: retrieval.SearchIndex, found: Findings, similarities: np.ndarray, ids: np.ndarray, count: int, path: Path
) -> None:
    """The first test image of each class (up to `count`) and its five nearest training images."""
    size, mode = tuple(index.info["image_size"]), index.info["color_mode"]
    test = found.test
    shown = np.sort(np.unique(test.labels, return_index=True)[1])[:count]
    rows, captions = [], []
    for q in shown:
        top = [i for i in ids[q][:5] if i >= 0]
        # No pixel limit: the index stage has decoded these very files under data.max_pixels already.
        rows.append(
            [test.images[q]]
            + [resize(load_image(Path(index.paths[i]), mode, 10**12)[0], size).astype(np.float32) for i in top]
        )
        captions.append(
            [f"query: {found.names[test.labels[q]]}"]
            + [f"{index.labels[i]} ({sim:.3f})" for i, sim in zip(top, similarities[q])]
        )
    plots.image_rows(
        rows, captions, "Test queries (left) and their nearest training images: label (cosine similarity)", path
    )
