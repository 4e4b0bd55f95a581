"""train: build `model.arch` and train it on the prepared train split, keeping the best val_loss epoch.

With a pretrained base the base stays frozen (feature extraction); other archs train from scratch.
Reads params: seed, paths, augment, model, train, tracking.
Writes: paths.train/model.keras and history.csv (non-chief workers write beside it, see worker_dir).
"""
import sys
from pathlib import Path

import mlflow

from convpipe import params as params_module
from convpipe.atomic import atomic_dir
from convpipe.data import records
from convpipe.data.augment import augmentation
from convpipe.errors import run_main
from convpipe.models import build_model
from convpipe.tracking import keras_callback, stage_run
from convpipe.training import (BACKUP_ROOT, class_weights, compile_model, distribution, fit, seed_everything,
                               worker_dir)


def main() -> None:
    params = params_module.load()
    settings = params.train
    strategy = distribution(settings.distribute)  # multi-worker needs it before any other TensorFlow work
    seed_everything(params.seed)
    prepared = Path(params.paths.prepared)
    meta = records.read_meta(prepared)
    weights = class_weights(meta["counts"]["train"], meta["class_names"]) if settings.class_weight == "auto" else None
    # out_dir is a temporary sibling of paths.train, renamed into place when the stage succeeds.
    with stage_run("train", params) as run, atomic_dir(worker_dir(Path(params.paths.train), strategy)) as out_dir:
        train = records.training_epochs(prepared, settings.batch_size, params.seed, augmentation(params.augment))
        val_ds = records.dataset(prepared, "val", settings.batch_size)
        with strategy.scope():
            model = build_model(params.model, (*meta["image_size"], meta["channels"]), len(meta["class_names"]))
            compile_model(model, settings.learning_rate)
        history = fit(model, train, val_ds, settings, out_dir, BACKUP_ROOT / "train", weights,
                      [keras_callback()] if run else [])
        model.save(out_dir / "model.keras")
        best = min(history, key=lambda row: row["val_loss"])
        if run:
            mlflow.log_metrics({"best_val_loss": best["val_loss"], "best_val_accuracy": best["val_accuracy"],
                                "epochs_run": len(history), "replicas": strategy.num_replicas_in_sync})
            mlflow.log_artifacts(str(out_dir), "model")
        print(f"train: best val_accuracy {best['val_accuracy']:.4f} (val_loss {best['val_loss']:.4f}) "
              f"after {len(history)} epoch(s)")


if __name__ == "__main__":
    sys.exit(run_main(main, "train"))
