"""train: build `model.arch` and train it on the prepared train split, keeping the best val_loss epoch.

With a pretrained base the base stays frozen (feature extraction) and only the head trains, on the base's
features computed once (see model/features.py); other archs train from scratch. train.epochs, batch_size
and precision "auto" are resolved by convpipe.model.auto and model.precision, augment.flip by data.augment (logged
as resolved.train.*, resolved.augment.flip).
Reads params: seed, augment, model, train, tracking. Inside a `convpipe tune` trial it reports val_loss per epoch
and stops early (exit code 3) when the study prunes the trial.
Writes: paths.train/model.keras, history.csv and resolved.json (what `auto` and the feature cache resolved to;
non-chief workers write beside it, see worker_dir), and paths.reports/train.json: the best epoch's val_accuracy and
val_loss and the epochs run, a DVC metric (`dvc exp show`) and what a `convpipe tune` with `until: train` ranks by.
"""

import json
import sys
import time

from convpipe.core.atomic import atomic_dir, atomic_file
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import augment, shards
from convpipe.model import auto, features, precision
from convpipe.model.builders import build_model
from convpipe.model.saved import MODEL_FILE
from convpipe.model.seeding import seed_everything
from convpipe.model.training import (
    BACKUP_ROOT,
    class_weights,
    compile_model,
    cosine_schedule,
    distribution,
    fit,
    is_chief,
    run_identity,
    worker_dir,
)
from convpipe.tune import pruning


def main() -> None:
    params, paths = load_params(), load_paths()
    strategy = distribution(params.train.distribute)  # multi-worker needs it before any other TensorFlow work
    seed_everything(params.seed)
    policy = precision.resolve(params.train.precision)
    precision.use(policy)  # before building: layers take the global policy when they are made
    meta = shards.read_meta(paths.prepared)
    settings = auto.train_settings(params.train, params.model, meta["counts"]["train"]["total"])
    augment_settings = augment.resolve(params.augment, meta["channels"])  # flip "auto" depends on the colour mode
    resolved = {
        "resolved.train.epochs": settings.epochs,
        "resolved.train.batch_size": settings.batch_size,
        "resolved.augment.flip": augment_settings.flip,
    }
    weights = class_weights(meta["counts"]["train"], meta["class_names"]) if settings.class_weight == "auto" else None
    # out_dir is a temporary sibling of paths.train, renamed into place when the stage succeeds.
    with stage_run("train", params) as run, atomic_dir(worker_dir(paths.train, strategy)) as out_dir:
        augmenter = augment.augmentation(augment_settings)
        train = shards.training_epochs(paths.prepared, settings.batch_size, params.seed, augmenter)
        val_ds = shards.dataset(paths.prepared, "val", settings.batch_size)
        with strategy.scope():
            model = build_model(params.model, (*meta["image_size"], meta["channels"]), len(meta["class_names"]))
            compile_model(model, settings.learning_rate, settings.label_smoothing)
        schedule = None
        if settings.schedule == "cosine":
            schedule = cosine_schedule(settings.learning_rate, settings.epochs, settings.warmup_epochs)
        # Inside a `convpipe tune` trial, pruning stops this stage early; elsewhere it adds no callback.
        callbacks = run.keras_callbacks() + pruning.callbacks(run)
        started = time.perf_counter()
        with strategy.scope():
            head = features.head_training(model, train, val_ds, settings.batch_size)
        cache = "off" if head is None else "val" if train.augment else "train+val"
        if head is not None:  # a frozen base: the head (which shares its layers with model) trains on features
            with strategy.scope():
                compile_model(head[0], settings.learning_rate, settings.label_smoothing)
            fitted, train, val_ds = head
        else:
            fitted = model
        resolved |= {"resolved.train.precision": policy, "resolved.train.feature_cache": cache}
        run.log_params(resolved)
        cached = f" ({time.perf_counter() - started:.1f}s to compute)" if head else ""
        print(f"train: precision {policy}, frozen-base feature cache {cache}{cached}")
        trained_from = run_identity(
            params.model_dump(mode="json", include={"seed", "augment", "model", "train"}), shards.files(paths.prepared)
        )
        backup = BACKUP_ROOT / "train"
        history = fit(fitted, train, val_ds, settings, out_dir, backup, weights, callbacks, schedule, trained_from)
        model.save(out_dir / MODEL_FILE)
        with open(out_dir / "resolved.json", "w", encoding="utf-8") as handle:
            json.dump(resolved, handle, indent=2)
        best = min(history, key=lambda row: row["val_loss"])
        if is_chief(strategy):
            with atomic_file(paths.reports / "train.json") as handle:
                json.dump(summary(history, best), handle, indent=2)
        run.log_metrics(
            {
                "best_val_loss": best["val_loss"],
                "best_val_accuracy": best["val_accuracy"],
                "epochs_run": len(history),
                "replicas": strategy.num_replicas_in_sync,
            }
        )
        run.log_artifacts(out_dir, "model")
        print(
            f"train: best val_accuracy {best['val_accuracy']:.4f} (val_loss {best['val_loss']:.4f}) "
            f"after {len(history)} of at most {settings.epochs} epoch(s), batch size {settings.batch_size}"
        )


def summary(history: list[dict], best: dict) -> dict:
    """reports/train.json: the kept (lowest val_loss) epoch's val metrics, and how many epochs ran."""
    return {
        "val_accuracy": best["val_accuracy"],
        "val_loss": best["val_loss"],
        "best_epoch": history.index(best) + 1,
        "epochs": len(history),
    }


if __name__ == "__main__":
    sys.exit(run_main(main, "train"))
