"""Classification metrics (scikit-learn is the reference) and the data behind the DVC plots."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score, log_loss


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, loss, macro/weighted F1 and per-class precision/recall/F1/support."""
    classes = list(range(len(class_names)))
    predicted = probabilities.argmax(axis=1)
    report = classification_report(labels, predicted, labels=classes, target_names=class_names,
                                   output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "loss": float(log_loss(labels, probabilities, labels=classes)),
        "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, predicted, labels=classes, average="weighted", zero_division=0)),
        "per_class": {name: {"precision": report[name]["precision"], "recall": report[name]["recall"],
                             "f1": report[name]["f1-score"], "support": int(report[name]["support"])}
                      for name in class_names},
    }


def confusion_rows(labels: np.ndarray, predicted: np.ndarray, class_names: list[str]) -> list[dict]:
    """One row per test image (actual, predicted), the shape DVC's confusion template wants."""
    return [{"actual": class_names[a], "predicted": class_names[p]} for a, p in zip(labels, predicted)]


def confusion_counts(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows, predicted as columns."""
    return confusion_matrix(labels, predicted, labels=list(range(n_classes)))


def learning_curve_rows(phases: dict[str, list[dict]]) -> list[dict]:
    """Train and finetune histories as one curve with a running epoch and the phase named."""
    rows, step = [], 0
    for phase, history in phases.items():
        for entry in history:
            step += 1
            rows.append({"epoch": step, "phase": phase, **{k: v for k, v in entry.items() if k != "epoch"}})
    return rows
