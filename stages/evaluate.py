"""evaluate: score the finetuned model on the test and val splits; write metrics and plot data.

Reads params: paths, evaluate, tracking.
Writes: paths.reports/metrics.json, paths.reports/plots/{confusion,learning_curve}.csv.
"""
import csv
import json
import sys
from pathlib import Path

import mlflow
import tensorflow as tf

from convpipe import evaluation
from convpipe import params as params_module
from convpipe.data import records
from convpipe.errors import run_main
from convpipe.tracking import log_to_parent, stage_run
from convpipe.training import HISTORY_FILE, read_history


def write_rows(rows: list[dict], path: Path) -> None:
    """A list of flat dicts as CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    params = params_module.load()
    prepared, reports = Path(params.paths.prepared), Path(params.paths.reports)
    class_names = records.read_meta(prepared)["class_names"]
    with stage_run("evaluate", params) as run:
        model = tf.keras.models.load_model(Path(params.paths.finetune) / "model.keras", safe_mode=True)
        metrics, test_predictions = {}, None
        for split in ("test", "val"):
            images, labels = records.arrays(prepared, split)
            probabilities = model.predict(images, batch_size=params.evaluate.batch_size, verbose=0)
            metrics[split] = evaluation.classification_metrics(labels, probabilities, class_names)
            if split == "test":
                test_predictions = (labels, probabilities.argmax(axis=1))
        with open(reports / "metrics.json", "w", encoding="utf-8") as handle:
            json.dump(metrics, handle, indent=2)
        write_rows(evaluation.confusion_rows(*test_predictions, class_names), reports / "plots" / "confusion.csv")
        phases = {phase: read_history(Path(getattr(params.paths, phase)) / HISTORY_FILE)
                  for phase in ("train", "finetune")}
        write_rows(evaluation.learning_curve_rows(phases), reports / "plots" / "learning_curve.csv")
        headline = {f"{split}.{key}": metrics[split][key] for split in metrics
                    for key in ("accuracy", "loss", "macro_f1", "weighted_f1")}
        mlflow.log_metrics(headline)
        log_to_parent(run, headline)
        mlflow.log_artifact(str(reports / "metrics.json"))
        mlflow.log_artifacts(str(reports / "plots"), "plots")
        print("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in headline.items() if k.startswith("test.")))


if __name__ == "__main__":
    sys.exit(run_main(main, "evaluate"))
