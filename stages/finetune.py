"""finetune: continue from train's best model with the top layers unfrozen, at a lower learning rate.

Reads params: seed, paths, data, augment, finetune, tracking.
Writes: paths.finetune/model.keras and history.csv.
"""
import sys
from pathlib import Path

import mlflow
import mlflow.tensorflow
import tensorflow as tf

from convpipe import params as params_module
from convpipe.data import records
from convpipe.errors import run_main
from convpipe.models import augmentation, unfreeze
from convpipe.tracking import stage_run
from convpipe.training import BACKUP_ROOT, compile_model, fit, seed_everything


def main() -> None:
    params = params_module.load()
    seed_everything(params.seed)
    prepared, out_dir = Path(params.paths.prepared), Path(params.paths.finetune)
    settings = params.finetune
    with stage_run("finetune", params):
        model = tf.keras.models.load_model(Path(params.paths.train) / "model.keras", safe_mode=True)
        unfrozen = unfreeze(model, settings.unfreeze)
        compile_model(model, settings.learning_rate)
        augment = augmentation(params.augment, params.seed)
        train_ds = records.dataset(prepared, "train", params.train.batch_size, params.seed, augment)
        val_ds = records.dataset(prepared, "val", params.train.batch_size)
        start = dict(zip(["val_loss", "val_accuracy"], model.evaluate(val_ds, verbose=0)))
        history = fit(model, train_ds, val_ds, settings.epochs, settings.patience, out_dir,
                      BACKUP_ROOT / "finetune", [mlflow.tensorflow.MlflowCallback()])
        model.save(out_dir / "model.keras")
        best = min(history, key=lambda row: row["val_loss"], default=start)
        mlflow.log_metrics({"unfrozen_layers": unfrozen, "start_val_accuracy": start["val_accuracy"],
                            "best_val_loss": best["val_loss"], "best_val_accuracy": best["val_accuracy"],
                            "epochs_run": len(history)})
        mlflow.log_artifacts(str(out_dir), "model")
        print(f"finetune: val_accuracy {start['val_accuracy']:.4f} → {best['val_accuracy']:.4f} "
              f"with {unfrozen} layer(s) unfrozen")


if __name__ == "__main__":
    sys.exit(run_main(main, "finetune"))
