"""Every figure is written as a real PNG with something drawn on it."""

import numpy as np
import pytest
from PIL import Image

from convpipe.evaluate import metrics as evaluation
from convpipe.evaluate import plots

NAMES = ["a", "b", "c"]


def assert_drawn(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert min(pixels.shape) > 60
    assert pixels.std() > 10 and len(np.unique(pixels)) > 20  # not a blank canvas


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 10)
    logits = rng.normal(size=(30, 3)) + 2 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = rng.uniform(0, 255, (30, 8, 8, 1))
    return labels, probs, images


def test_learning_curves(tmp_path):
    history = evaluation.learning_curve_rows(
        {
            "train": [
                {"loss": 1 / (i + 1), "accuracy": i / 5, "val_loss": 1.1 / (i + 1), "val_accuracy": i / 6}
                for i in range(5)
            ],
            "finetune": [{"loss": 0.1, "accuracy": 0.9, "val_loss": 0.2, "val_accuracy": 0.8}] * 3,
        }
    )
    assert_drawn(plots.learning_curves(history, tmp_path / "curves.png"))


def test_metric_plots(tmp_path, data):
    labels, probs, _ = data
    counts = evaluation.confusion_counts(labels, probs.argmax(axis=1), 3)
    assert_drawn(plots.confusion_matrices(counts, NAMES, tmp_path / "confusion.png"))
    curves = evaluation.precision_recall_curves(labels, probs, NAMES)
    assert_drawn(plots.precision_recall(curves, tmp_path / "pr.png"))
    bins = evaluation.calibration_bins(labels, probs, 10)
    assert_drawn(plots.reliability(bins, 10, evaluation.expected_calibration_error(bins), tmp_path / "rel.png"))


def test_picture_plots(tmp_path, data):
    labels, probs, images = data
    assert_drawn(plots.image_grid(images[:5], ["x"] * 5, "worst", tmp_path / "grid.png"))
    heatmaps = np.random.default_rng(1).uniform(size=(4, 8, 8))
    assert_drawn(plots.gradcam_grid(images[:4], heatmaps, ["x"] * 4, tmp_path / "gradcam.png"))
    kernel = np.random.default_rng(2).normal(size=(3, 3, 1, 8))
    assert_drawn(plots.filters(kernel, tmp_path / "filters.png"))
    assert_drawn(plots.filters(np.random.default_rng(3).normal(size=(3, 3, 3, 8)), tmp_path / "rgb.png"))
    points = np.random.default_rng(4).normal(size=(30, 2)) + 5 * np.eye(3)[labels][:, :2]
    assert_drawn(plots.tsne(points, labels, NAMES, tmp_path / "tsne.png"))


def test_image_grid_without_mistakes_still_draws(tmp_path):
    path = plots.image_grid(np.zeros((0, 8, 8, 1)), [], "no mistakes", tmp_path / "none.png")
    assert path.stat().st_size > 1000
