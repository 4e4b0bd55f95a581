"""finetune: continue from train's best model with the top layers unfrozen, at a lower learning rate.

Keeps whichever of the starting and the finetuned weights has the lower val_loss, and says which.
finetune.unfreeze and finetune.learning_rate "auto" depend on the model kind (convpipe.model.auto): with a
pretrained base its top 30% at train's rate ÷ 30, batch norm frozen; from scratch every layer at ÷ 10.
Reads params: seed, augment, model, train (batch_size, learning_rate, class_weight, distribute), finetune, tracking.
The model computes in finetune.precision's policy (auto resolves per machine, see model/precision.py).
Writes: paths.finetune/model.keras, history.csv and phases.json (val metrics before and after, resolved values).
"""

import json
import sys

from convpipe.core.atomic import atomic_dir
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import augment, shards
from convpipe.model import auto, precision
from convpipe.model.builders import unfreeze
from convpipe.model.saved import MODEL_FILE, load_model
from convpipe.model.seeding import seed_everything
from convpipe.model.training import (
    BACKUP_ROOT,
    class_weights,
    compile_model,
    distribution,
    fit,
    run_identity,
    worker_dir,
)


def val_metrics(model, val_ds) -> dict[str, float]:
    """val_loss and val_accuracy of `model` as it stands."""
    return dict(zip(["val_loss", "val_accuracy"], model.evaluate(val_ds, verbose=0)))


def main() -> None:
    params, paths = load_params(), load_paths()
    strategy = distribution(params.train.distribute)  # multi-worker needs it before any other TensorFlow work
    seed_everything(params.seed)
    policy = precision.resolve(params.finetune.precision)
    precision.use(policy)
    meta = shards.read_meta(paths.prepared)
    batch_size = auto.batch_size(params.train.batch_size, meta["counts"]["train"]["total"])
    settings = auto.finetune_settings(params.finetune, params.train, params.model)
    resolved = {
        "resolved.finetune.unfreeze": settings.unfreeze,
        "resolved.finetune.learning_rate": settings.learning_rate,
        "resolved.finetune.precision": policy,
    }
    balanced = params.train.class_weight == "auto"
    weights = class_weights(meta["counts"]["train"], meta["class_names"]) if balanced else None
    # out_dir is a temporary sibling of paths.finetune, renamed into place when the stage succeeds.
    with stage_run("finetune", params) as run, atomic_dir(worker_dir(paths.finetune, strategy)) as out_dir:
        augmenter = augment.augmentation(augment.resolve(params.augment, meta["channels"]))
        train = shards.training_epochs(paths.prepared, batch_size, params.seed, augmenter)
        val_ds = shards.dataset(paths.prepared, "val", batch_size)
        with strategy.scope():
            model = precision.in_policy(load_model(paths.train / MODEL_FILE), policy)  # as saved by train otherwise
            unfrozen = unfreeze(model, settings.unfreeze)
            compile_model(model, settings.learning_rate)
        run.log_params(resolved)
        start, start_weights = val_metrics(model, val_ds), model.get_weights()
        trained_from = run_identity(
            params.model_dump(mode="json", include={"seed", "augment", "model", "train", "finetune"}),
            [*shards.files(paths.prepared), paths.train / MODEL_FILE],
        )
        callbacks, backup = run.keras_callbacks(), BACKUP_ROOT / "finetune"
        history = fit(model, train, val_ds, settings, out_dir, backup, weights, callbacks, identity=trained_from)
        tuned = val_metrics(model, val_ds) if history else start
        # Fine-tuning can overfit a small val set's loss; never hand on a model worse than train's.
        kept = "finetuned" if tuned["val_loss"] < start["val_loss"] else "start"
        if kept == "start":
            model.set_weights(start_weights)
        model.save(out_dir / MODEL_FILE)
        if (paths.train / "resolved.json").exists():  # the report shows both phases' resolved values
            with open(paths.train / "resolved.json", encoding="utf-8") as handle:
                resolved = {**json.load(handle), **resolved}
        phases = {"train": start, "finetune": tuned, "kept": kept, "unfrozen_layers": unfrozen, "resolved": resolved}
        with open(out_dir / "phases.json", "w", encoding="utf-8") as handle:
            json.dump(phases, handle, indent=2)
        gain = {
            "start_val_loss": start["val_loss"],
            "start_val_accuracy": start["val_accuracy"],
            "finetuned_val_loss": tuned["val_loss"],
            "finetuned_val_accuracy": tuned["val_accuracy"],
            "kept_finetuned": float(kept == "finetuned"),
        }
        run.log_metrics({**gain, "unfrozen_layers": unfrozen, "epochs_run": len(history)})
        run.set_tags({"convpipe.finetune.kept": kept})
        run.log_to_parent(gain)
        run.log_artifacts(out_dir, "model")
        print(
            f"finetune: val_loss {start['val_loss']:.4f} → {tuned['val_loss']:.4f}, val_accuracy "
            f"{start['val_accuracy']:.4f} → {tuned['val_accuracy']:.4f} with {unfrozen} layer(s) unfrozen at rate "
            f"{settings.learning_rate:.2g}; "
            f"kept the {kept} weights"
        )


if __name__ == "__main__":
    sys.exit(run_main(main, "finetune"))
