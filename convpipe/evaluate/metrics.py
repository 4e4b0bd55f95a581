"""Classification metrics (scikit-learn is the reference) and the data behind the DVC plots."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    classification_report,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    top_k_accuracy_score,
)


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, class_names: list[str], top_k: int = 3, bins: int = 10
) -> dict:
    """Accuracy, loss, macro/weighted F1, top-k accuracy, ECE and per-class precision/recall/F1/support."""
    classes = list(range(len(class_names)))
    predicted = probabilities.argmax(axis=1)
    report = classification_report(
        labels, predicted, labels=classes, target_names=class_names, output_dict=True, zero_division=0
    )
    metrics = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "loss": float(log_loss(labels, probabilities, labels=classes)),
        "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, predicted, labels=classes, average="weighted", zero_division=0)),
    }
    # With k or fewer classes every label is in the top k, so the number would say nothing.
    if len(classes) > top_k:
        metrics[f"top_{top_k}_accuracy"] = float(top_k_accuracy_score(labels, probabilities, k=top_k, labels=classes))
    metrics["ece"] = expected_calibration_error(calibration_bins(labels, probabilities, bins))
    metrics["per_class"] = {
        name: {
            "precision": report[name]["precision"],
            "recall": report[name]["recall"],
            "f1": report[name]["f1-score"],
            "support": int(report[name]["support"]),
        }
        for name in class_names
    }
    return metrics


def calibration_bins(labels: np.ndarray, probabilities: np.ndarray, bins: int) -> list[dict]:
    """Top-1 confidence vs accuracy in equal-width confidence bins; empty bins are left out."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    # Bins are [lower, upper); a confidence of exactly 1 belongs to the last one.
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        if members.any():
            rows.append(
                {
                    "bin_center": (b + 0.5) / bins,
                    "confidence": float(confidence[members].mean()),
                    "accuracy": float(correct[members].mean()),
                    "count": int(members.sum()),
                }
            )
    return rows


def expected_calibration_error(bins: list[dict]) -> float:
    """Mean |accuracy - confidence| over the bins, weighted by their image counts (Guo et al., 2017)."""
    total = sum(row["count"] for row in bins)
    return float(sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in bins) / total)


def precision_recall_curves(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict[str, dict]:
    """One-vs-rest precision-recall curve and average precision per class."""
    curves = {}
    for index, name in enumerate(class_names):
        positive = labels == index
        precision, recall, _ = precision_recall_curve(positive, probabilities[:, index])
        ap = float(average_precision_score(positive, probabilities[:, index])) if positive.any() else 0.0
        curves[name] = {"precision": precision, "recall": recall, "average_precision": ap}
    return curves


def precision_recall_rows(curves: dict[str, dict]) -> list[dict]:
    """The curves in long form (class, recall, precision), the shape the per-class DVC template draws."""
    return [
        {"class": name, "recall": float(r), "precision": float(p)}
        for name, curve in curves.items()
        for r, p in zip(curve["recall"], curve["precision"])
    ]


def confusion_rows(labels: np.ndarray, predicted: np.ndarray, class_names: list[str]) -> list[dict]:
    """One row per test image (actual, predicted), the shape DVC's confusion template wants."""
    return [{"actual": class_names[a], "predicted": class_names[p]} for a, p in zip(labels, predicted)]


def confusion_counts(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows, predicted as columns."""
    return confusion_matrix(labels, predicted, labels=list(range(n_classes)))


def worst_misclassified(labels: np.ndarray, probabilities: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to `count` misclassified images, most confident mistake first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    return wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:count]


def learning_curve_rows(phases: dict[str, list[dict]]) -> list[dict]:
    """Train and finetune histories as one curve with a running epoch and the phase named."""
    rows, step = [], 0
    for phase, history in phases.items():
        for entry in history:
            step += 1
            rows.append({"epoch": step, "phase": phase, **{k: v for k, v in entry.items() if k != "epoch"}})
    return rows
