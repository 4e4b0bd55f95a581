"""Metrics against values worked out by hand on six images, three classes, one never predicted."""

import math

import numpy as np
import pytest

from convpipe.evaluate import metrics as evaluation

NAMES = ["a", "b", "c"]
LABELS = np.array([0, 0, 1, 1, 2, 2])
# Predictions: a ✓(.72), b ✗(.55), b ✓(.83), b ✓(.74), a ✗(.62), b ✗(.45): class c is never predicted.
PROBS = np.array(
    [
        [0.72, 0.18, 0.10],
        [0.40, 0.55, 0.05],
        [0.12, 0.83, 0.05],
        [0.16, 0.74, 0.10],
        [0.62, 0.30, 0.08],
        [0.25, 0.45, 0.30],
    ]
)


@pytest.fixture(scope="module")
def metrics():
    return evaluation.classification_metrics(LABELS, PROBS, NAMES, top_k=2, bins=10)


def test_accuracy_loss_and_f1(metrics):
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    true_class_probs = [0.72, 0.40, 0.83, 0.74, 0.08, 0.30]
    assert metrics["loss"] == pytest.approx(-sum(map(math.log, true_class_probs)) / 6)
    # F1: a = 0.5 (P 1/2, R 1/2), b = 2/3 (P 2/4, R 1), c = 0; equal supports, so weighted = macro.
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert metrics["weighted_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_per_class_including_a_class_never_predicted(metrics):
    assert metrics["per_class"]["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert metrics["per_class"]["b"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 2})
    assert metrics["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}


def test_top_k_only_when_there_are_more_classes_than_k(metrics):
    # Top two: {a,b} ✓, {b,a} ✓, {b,a} ✓, {b,a} ✓, {a,b} ✗ (true c), {b,c} ✓.
    assert metrics["top_2_accuracy"] == pytest.approx(5 / 6)
    three = evaluation.classification_metrics(LABELS, PROBS, NAMES, top_k=3)
    assert not any(key.startswith("top_") for key in three)


def test_calibration_bins_and_ece(metrics):
    bins = evaluation.calibration_bins(LABELS, PROBS, 10)
    # One flat list: pytest.approx compares numbers in flat sequences, not tuples nested in a list.
    assert [value for row in bins for value in (row["bin_center"], row["count"], row["accuracy"])] == pytest.approx(
        [0.45, 1, 0.0, 0.55, 1, 0.0, 0.65, 1, 0.0, 0.75, 2, 1.0, 0.85, 1, 1.0]
    )
    assert bins[3]["confidence"] == pytest.approx((0.72 + 0.74) / 2)
    # |acc - conf| weighted by count: .45 + .55 + .62 + 2 × .27 + .17, over six images.
    assert metrics["ece"] == pytest.approx((0.45 + 0.55 + 0.62 + 2 * 0.27 + 0.17) / 6)


def test_a_perfectly_calibrated_bin_has_no_error():
    labels, probs = np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]])
    assert evaluation.expected_calibration_error(evaluation.calibration_bins(labels, probs, 5)) == 0.0


def test_precision_recall_curves_and_rows():
    curves = evaluation.precision_recall_curves(LABELS, PROBS, NAMES)
    # Class c by score: .30 (c), .10 (a), .10 (b), .08 (c): AP = .5 × 1 + .5 × 2/4.
    assert curves["c"]["average_precision"] == pytest.approx(0.75)
    rows = evaluation.precision_recall_rows(curves)
    assert {row["class"] for row in rows} == set(NAMES)
    assert all(0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 for row in rows)


def test_worst_misclassified_are_the_most_confident_mistakes():
    assert evaluation.worst_misclassified(LABELS, PROBS, 2).tolist() == [4, 1]
    assert evaluation.worst_misclassified(LABELS, PROBS, 10).tolist() == [4, 1, 5]


def test_confusion_counts_and_rows():
    predicted = PROBS.argmax(axis=1)
    assert evaluation.confusion_counts(LABELS, predicted, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 1, 0]]
    assert evaluation.confusion_rows(LABELS, predicted, NAMES)[1] == {"actual": "a", "predicted": "b"}


def test_learning_curve_numbers_epochs_across_phases():
    rows = evaluation.learning_curve_rows(
        {"train": [{"epoch": 0, "loss": 2.0}, {"epoch": 1, "loss": 1.0}], "finetune": [{"epoch": 0, "loss": 0.5}]}
    )
    assert [(r["epoch"], r["phase"], r["loss"]) for r in rows] == [
        (1, "train", 2.0),
        (2, "train", 1.0),
        (3, "finetune", 0.5),
    ]
