"""The evaluate stage's figures and plot data, from a tiny untrained model and made-up scores."""

import csv

import numpy as np
from PIL import Image

from convpipe.core.params import Evaluate, Model
from convpipe.evaluate import figures, metrics
from convpipe.model.builders import build_model

NAMES = ["a", "b", "c"]


def findings(n: int = 12) -> figures.Findings:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (n, 16, 16, 1)).astype(np.float32)
    labels = np.arange(n) % 3
    probabilities = rng.dirichlet(np.ones(3), n)
    test = figures.Scored(images, labels, probabilities)
    history = metrics.learning_curve_rows(
        {"train": [{"epoch": 0.0, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4}], "finetune": []}
    )
    return figures.Findings(
        test,
        NAMES,
        metrics.precision_recall_curves(labels, probabilities, NAMES),
        metrics.calibration_bins(labels, probabilities, 5),
        0.1,
        history,
        rng.normal(size=(n, 2)),
    )


def test_scored_predicts_the_most_probable_class_and_captions_it():
    test = figures.Scored(np.zeros((2, 1, 1, 1)), np.array([0, 2]), np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]]))
    assert test.predicted.tolist() == [0, 1]
    assert test.caption(1, NAMES) == "true c → b (0.60)"


def test_plot_data_and_every_figure_are_written(tmp_path):
    found = findings()
    figures.write_plot_data(tmp_path / "plots", found)
    with open(tmp_path / "plots" / "tsne.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 12
    model = build_model(Model(arch="small_convnet", filters=[4, 8], dropout=0.0), (16, 16, 1), 3)
    settings = Evaluate(batch_size=8, calibration_bins=5, worst_images=4, gradcam_images=3)
    figures.draw_figures(tmp_path / "figures", model, found, settings)
    drawn = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert drawn == [
        "confusion_matrix.png",
        "filters.png",
        "gradcam.png",
        "learning_curves.png",
        "misclassified.png",
        "precision_recall.png",
        "reliability.png",
        "tsne.png",
    ]
    with Image.open(tmp_path / "figures" / "gradcam.png") as image:
        assert min(image.size) > 100
