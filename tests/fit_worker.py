"""Runs training.fit on tiny synthetic data; a subprocess target for the resume and multi-worker tests.

Usage: python -m tests.fit_worker '{"out": DIR, "backup": DIR, "epochs": N, ...}'; prints a JSON result.
"""

import json
import os
import signal
import sys
from pathlib import Path

import convpipe  # noqa: F401  (selects Keras 2 before TensorFlow loads)


def stripes(n: int, seed: int):
    """Class 0: bright top half, class 1: bright bottom half, noisy; 16×16 grayscale, raw 0-255."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.uniform(0, 120, (n, 16, 16, 1)).astype("float32")
    for image, label in zip(images, labels):
        image[label * 8 : (label + 1) * 8] += 120
    return images, labels


def run(config: dict) -> dict:
    """Build, compile and fit small_convnet per `config`; return history, epochs run here and a weight sum."""
    from convpipe.core.params import Model, Train
    from convpipe.model.seeding import seed_everything
    from convpipe.model.training import compile_model, cosine_schedule, distribution, fit, worker_dir

    strategy = distribution(config.get("distribute", "none"))
    seed_everything(0)
    import tensorflow as tf

    from convpipe.model import features, precision

    precision.use(config.get("precision", "float32"))

    settings = Train(
        epochs=config["epochs"],
        batch_size=8,
        learning_rate=0.01,
        patience=config.get("patience", 10),
        reduce_lr_patience=2,
    )
    from convpipe.core.params import Augment
    from convpipe.data.augment import augmentation
    from convpipe.data.shards import Epochs

    # Augmentation and dropout are on, so a resumed fit only equals an uninterrupted one if their
    # random state resumes too.
    augment = augmentation(
        Augment(flip="horizontal", rotation=0.05, zoom=0.1, translation=0.1, contrast=0.1, brightness=0.05)
    )
    if config.get("augment") is False:
        augment = None
    train = Epochs(tf.data.Dataset.from_tensor_slices(stripes(48, 1)), 48, 48, 8, seed=0, augment=augment)
    val_ds = tf.data.Dataset.from_tensor_slices(stripes(16, 2)).batch(8)
    with strategy.scope():
        model = build(Model(arch="small_convnet", filters=[4, 8], dropout=0.2))
        compile_model(model, settings.learning_rate)
    started, trained = [], []
    callbacks = [
        tf.keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: started.append(epoch),
            on_train_end=lambda logs: trained.append(weight_sum(model)),
        )
    ]
    if config.get("kill_after") is not None:
        # SIGKILL: no cleanup at all, as when a machine or a CI job dies mid-run.
        callbacks.append(
            tf.keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: (
                    os.kill(os.getpid(), signal.SIGKILL) if epoch == config["kill_after"] else None
                )
            )
        )
    out_dir = worker_dir(Path(config["out"]), strategy)  # as the train stage does
    # The train stage's default: warm-up then cosine decay, from the epoch index; "plateau" cuts on val_loss.
    schedule = cosine_schedule(settings.learning_rate, settings.epochs, settings.warmup_epochs)
    schedule = schedule if config.get("schedule", "cosine") == "cosine" else None
    fitted, fit_train, fit_val = model, train, val_ds
    if config.get("frozen"):  # the conv blocks frozen: the head trains on cached features, as in the train stage
        for layer in model.layers[: model.layers.index(model.get_layer("features"))]:
            layer.trainable = False
        fitted, fit_train, fit_val = features.head_training(model, train, val_ds, 8)
        compile_model(fitted, settings.learning_rate)
    history = fit(
        fitted,
        fit_train,
        fit_val,
        settings,
        out_dir,
        Path(config["backup"]),
        callbacks=callbacks,
        schedule=schedule,
        identity=config.get("identity"),
    )
    val_loss = model.evaluate(val_ds, verbose=0)[0]
    return {
        "history": history,
        "started": started,
        "val_loss": float(val_loss),
        "weight_sum": weight_sum(model),
        "trained_weight_sum": trained[0],
        "replicas": strategy.num_replicas_in_sync,
    }


def weight_sum(model) -> float:
    """Sum of absolute weights: equal on two workers only if they trained in sync."""
    import numpy as np

    return float(sum(np.abs(w).sum() for w in model.get_weights()))


def build(spec):
    """small_convnet for 16×16×1 images, 2 classes."""
    from convpipe.model.builders import build_model

    return build_model(spec, (16, 16, 1), 2)


if __name__ == "__main__":
    print("RESULT " + json.dumps(run(json.loads(sys.argv[1]))))
