"""The evaluation's pictures as PNG files, drawn with matplotlib (no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; the pipeline runs headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def learning_curves(rows: list[dict], path: Path) -> Path:
    """Loss and accuracy per epoch, train vs val, with a line where finetuning starts."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    epochs = [row["epoch"] for row in rows]
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [row[metric] for row in rows], "o-", ms=3, label=f"train {metric}")
        ax.plot(epochs, [row[f"val_{metric}"] for row in rows], "o-", ms=3, label=f"val {metric}")
        phases = [row["phase"] for row in rows]
        for i in range(1, len(rows)):
            if phases[i] != phases[i - 1]:
                ax.axvline(epochs[i] - 0.5, color="grey", ls="--")
                ax.text(
                    epochs[i] - 0.4,
                    0.98,
                    f"{phases[i]} →",
                    transform=ax.get_xaxis_transform(),
                    va="top",
                    fontsize=8,
                    color="grey",
                )
        ax.set(xlabel="epoch (train, then finetune)", ylabel=metric, title=metric.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def learning_rate_curve(
    rates: list[float], losses: list[float], smoothed: list[float], suggestion: float, method: str, path: Path
) -> Path:
    """The learning-rate range test: loss against a log-scaled rate, with the suggested rate marked."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(rates, losses, color="lightgrey", lw=1, label="loss per batch")
    ax.plot(rates, smoothed, lw=2, label="smoothed")
    ax.axvline(suggestion, color="tab:red", ls="--", label=f"suggested {suggestion:.2g} ({method})")
    ax.set(xscale="log", xlabel="learning rate", ylabel="train loss", title="Learning-rate finder")
    ax.set_ylim(top=min(max(losses), 2 * max(smoothed[0], min(smoothed))))
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def confusion_matrices(counts: np.ndarray, class_names: list[str], path: Path) -> Path:
    """The confusion matrix as counts and normalised by true class (rows sum to 1)."""
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    size = max(4.5, 0.45 * len(class_names) + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, values, title, fmt in (
        (axes[0], counts, "Counts", "d"),
        (axes[1], normalised, "Normalised by true class", ".2f"),
    ):
        image = ax.imshow(values, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046)
        if len(class_names) <= 20:  # numbers in cells stay legible up to about twenty classes
            for (i, j), value in np.ndenumerate(values):
                ax.text(
                    j,
                    i,
                    format(value, fmt),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > values.max() / 2 else "black",
                )
        ticks = range(len(class_names))
        ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title=title)
        ax.set_xticklabels(class_names, rotation=90 if len(class_names) > 10 else 0)
        ax.set_yticklabels(class_names)
    return _save(fig, path)


def precision_recall(curves: dict[str, dict], path: Path) -> Path:
    """One precision-recall curve per class, average precision in the legend."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    colors = plt.get_cmap("tab20" if len(curves) > 10 else "tab10")
    for i, (name, curve) in enumerate(curves.items()):
        ax.step(
            curve["recall"],
            curve["precision"],
            where="post",
            color=colors(i % colors.N),
            label=f"{name} (AP {curve['average_precision']:.3f})",
        )
    ax.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1.01),
        ylim=(0, 1.02),
        title="Precision-recall per class (one vs rest, test)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(curves) > 10 else 1, loc="lower left")
    return _save(fig, path)


def reliability(bins: list[dict], n_bins: int, ece: float, path: Path) -> Path:
    """Accuracy vs confidence per bin against the diagonal, with how many images each bin holds."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True, height_ratios=(3, 1))
    width = 1 / n_bins
    lower = [row["bin_center"] - width / 2 for row in bins]
    top.bar(lower, [row["accuracy"] for row in bins], width=width, align="edge", edgecolor="black", label="accuracy")
    top.plot(
        [row["confidence"] for row in bins],
        [row["accuracy"] for row in bins],
        "ro",
        ms=4,
        label="mean confidence in bin",
    )
    top.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=f"Reliability diagram (test), ECE {ece:.4f}")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(lower, [row["count"] for row in bins], width=width, align="edge", color="grey")
    bottom.set(xlabel="top-1 confidence", ylabel="images", yscale="log")
    return _save(fig, path)


def _show(ax, image: np.ndarray) -> None:
    pixels = image / 255.0
    ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
    ax.axis("off")


def _grid(count: int, columns: int, cell: float = 1.6):
    rows = max(1, math.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * cell, rows * (cell + 0.35)), squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    return fig, axes.flat


def image_grid(images: np.ndarray, titles: list[str], title: str, path: Path, columns: int = 8) -> Path:
    """Images (pixels 0-255) in a grid, each with a caption."""
    fig, axes = _grid(max(len(images), 1), min(columns, max(len(images), 1)))
    for ax, image, caption in zip(axes, images, titles):
        _show(ax, image)
        ax.set_title(caption, fontsize=8)
    if not len(images):
        axes[0].text(0.5, 0.5, "none", ha="center", va="center")
        axes[0].axis("off")
    fig.suptitle(title)
    return _save(fig, path)


def gradcam_grid(images: np.ndarray, heatmaps: np.ndarray, titles: list[str], path: Path) -> Path:
    """Each image next to its Grad-CAM heatmap overlaid on it."""
    fig, axes = _grid(2 * len(images), 10)
    axes = list(axes)
    for i, (image, heatmap, caption) in enumerate(zip(images, heatmaps, titles)):
        _show(axes[2 * i], image)
        axes[2 * i].set_title(caption, fontsize=8)
        _show(axes[2 * i + 1], image)
        axes[2 * i + 1].imshow(heatmap, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[2 * i + 1].set_title("Grad-CAM", fontsize=8)
    fig.suptitle("Grad-CAM: where the evidence for the predicted class lies (test)")
    return _save(fig, path)


def filters(kernel: np.ndarray, path: Path) -> Path:
    """Every filter of a (h, w, in, out) kernel in one mosaic; RGB-input filters in colour, others averaged."""
    height, width, channels, count = kernel.shape
    weights = kernel if channels == 3 else kernel.mean(axis=2, keepdims=True)
    # Each filter on its own scale, centred so zero is the middle of the colour map.
    span = np.abs(weights).max(axis=(0, 1, 2))
    scaled = weights / (2 * np.where(span > 0, span, 1)) + 0.5
    columns = min(16, count)
    rows = math.ceil(count / columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1, scaled.shape[2]), np.nan)
    for i in range(count):
        top, left = (i // columns) * (height + 1), (i % columns) * (width + 1)
        mosaic[top : top + height, left : left + width] = scaled[..., i]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * columns + 1), max(2.0, 0.6 * rows * height / width + 0.8)))
    if scaled.shape[2] == 3:
        ax.imshow(np.nan_to_num(mosaic, nan=1.0))
    else:
        ax.imshow(
            np.ma.masked_invalid(mosaic[..., 0]), cmap=plt.get_cmap("RdBu_r").with_extremes(bad="white"), vmin=0, vmax=1
        )
    ax.axis("off")
    ax.set_title(
        f"First convolution: {count} filters of {height}×{width}" + ("" if channels == 3 else " (red +, blue −)")
    )
    return _save(fig, path)


def tsne(points: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path) -> Path:
    """The 2-D t-SNE map, one colour per true class."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    colors = plt.get_cmap("tab20" if len(class_names) > 10 else "tab10")
    for index, name in enumerate(class_names):
        members = labels == index
        ax.scatter(points[members, 0], points[members, 1], s=10, color=colors(index % colors.N), label=name)
    ax.set(xticks=[], yticks=[], title="t-SNE of penultimate-layer embeddings (test), by true class")
    ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5))
    return _save(fig, path)


def image_rows(rows: list[list[np.ndarray]], captions: list[list[str]], title: str, path: Path) -> Path:
    """One row of images (pixels 0-255, any sizes) per entry, each image with a caption: near-duplicate
    groups, or a query followed by its nearest neighbours."""
    columns = max([len(row) for row in rows] + [1])
    fig, axes = plt.subplots(
        max(len(rows), 1), columns, figsize=(columns * 1.7, max(len(rows), 1) * 2.0), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for r, (images, texts) in enumerate(zip(rows, captions)):
        for c, (image, text) in enumerate(zip(images, texts)):
            _show(axes[r, c], image)
            axes[r, c].set_title(text, fontsize=7)
    if not rows:
        axes[0, 0].text(0.5, 0.5, "none", ha="center", va="center")
    fig.suptitle(title)
    return _save(fig, path)
