"""train: build `model.arch` and train it on the prepared train split, keeping the best val_loss epoch.

Reads params: seed, paths, data, augment, model, train, tracking.
Writes: paths.train/model.keras and history.csv.
"""
import sys
from pathlib import Path

import mlflow
import mlflow.tensorflow

from convpipe import params as params_module
from convpipe.data import records
from convpipe.errors import run_main
from convpipe.models import augmentation, build_model
from convpipe.tracking import stage_run
from convpipe.training import BACKUP_ROOT, compile_model, fit, seed_everything


def main() -> None:
    params = params_module.load()
    seed_everything(params.seed)
    prepared, out_dir = Path(params.paths.prepared), Path(params.paths.train)
    meta = records.read_meta(prepared)
    with stage_run("train", params):
        augment = augmentation(params.augment, params.seed)
        train_ds = records.dataset(prepared, "train", params.train.batch_size, params.seed, augment)
        val_ds = records.dataset(prepared, "val", params.train.batch_size)
        model = build_model(params.model, (*meta["image_size"], meta["channels"]), len(meta["class_names"]))
        compile_model(model, params.train.learning_rate)
        history = fit(model, train_ds, val_ds, params.train.epochs, params.train.patience, out_dir,
                      BACKUP_ROOT / "train", [mlflow.tensorflow.MlflowCallback()])
        model.save(out_dir / "model.keras")
        best = min(history, key=lambda row: row["val_loss"])
        mlflow.log_metrics({"best_val_loss": best["val_loss"], "best_val_accuracy": best["val_accuracy"],
                            "epochs_run": len(history)})
        mlflow.log_artifacts(str(out_dir), "model")
        print(f"train: best val_accuracy {best['val_accuracy']:.4f} after {len(history)} epoch(s)")


if __name__ == "__main__":
    sys.exit(run_main(main, "train"))
