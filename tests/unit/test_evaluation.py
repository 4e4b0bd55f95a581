"""Metrics against hand-computed cases."""
import numpy as np
import pytest

from convpipe.evaluation import classification_metrics, confusion_counts, learning_curve_rows

NAMES = ["cat", "dog", "owl"]
# True labels and confident predictions: the owl is never predicted.
LABELS = np.array([0, 0, 1, 1, 2])
PREDICTED = np.array([0, 1, 1, 1, 1])
PROBABILITIES = np.eye(3)[PREDICTED] * 0.8 + 0.2 / 3


def test_accuracy_and_per_class_scores_by_hand():
    metrics = classification_metrics(LABELS, PROBABILITIES, NAMES)
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    cat, dog, owl = (metrics["per_class"][n] for n in NAMES)
    assert (cat["precision"], cat["recall"], cat["support"]) == (1.0, 0.5, 2)
    assert cat["f1"] == pytest.approx(2 / 3)
    assert dog["precision"] == pytest.approx(2 / 4) and dog["recall"] == 1.0  # 4 predicted, 2 right
    assert dog["f1"] == pytest.approx(2 / 3)
    assert owl == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert metrics["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 * 2 / 3 + 1 * 0) / 5)


def test_loss_is_the_mean_negative_log_probability_of_the_truth():
    metrics = classification_metrics(LABELS, PROBABILITIES, NAMES)
    p_true = PROBABILITIES[np.arange(5), LABELS]
    assert metrics["loss"] == pytest.approx(-np.log(p_true).mean())


def test_confusion_counts_rows_are_truth():
    assert confusion_counts(LABELS, PREDICTED, 3).tolist() == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]


def test_learning_curve_runs_on_across_phases():
    rows = learning_curve_rows({"train": [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}],
                                "finetune": [{"epoch": 0, "loss": 0.4}]})
    assert [(r["epoch"], r["phase"], r["loss"]) for r in rows] == [(1, "train", 1.0), (2, "train", 0.5),
                                                                   (3, "finetune", 0.4)]
