"""Training throughput of the default model fed by convpipe's tf.data pipeline, by in-memory tensors,
and by the books' loader (`image_dataset_from_directory` over the image files, no cache)."""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import tensorflow as tf

from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.data import shards
from convpipe.data.augment import augmentation, resolve
from convpipe.data.images import color_mode_of
from convpipe.model import auto
from convpipe.model.builders import build_model
from convpipe.model.seeding import seed_everything
from convpipe.model.training import compile_model

# The first epoch traces the step and fills the cache; the fastest of the others is the rate, since
# anything else running on the machine can only slow an epoch down.
EPOCHS = 4


class EpochTimes(tf.keras.callbacks.Callback):
    """Wall time of each epoch."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def images_per_second(params, meta: dict, ds, images: int, epochs: int = EPOCHS) -> float:
    """Train a fresh default model on `ds`; images per second in the fastest epoch after the first."""
    seed_everything(params.seed)
    model = build_model(params.model, (*meta["image_size"], meta["channels"]), len(meta["class_names"]))
    compile_model(model, params.train.learning_rate)
    timer = EpochTimes()
    if isinstance(ds, shards.Epochs):  # one epoch's order over and over: the same work as new ones
        model.fit(
            ds.epoch(0).repeat(),
            epochs=epochs,
            steps_per_epoch=math.ceil(ds.count / ds.batch_size),
            verbose=0,
            callbacks=[timer],
        )
    else:
        model.fit(ds, epochs=epochs, verbose=0, callbacks=[timer])
    return images / min(timer.times[1:])


def efficiency(repo: Path) -> dict:
    """The real pipeline (shards, augmentation) against the same model fed from in-memory tensors."""
    params = load_params(repo / "params.yaml")
    prepared = repo / load_paths(repo / "dvc.yaml").prepared
    meta = shards.read_meta(prepared)
    batch = auto.batch_size(params.train.batch_size, meta["counts"]["train"]["total"])
    augment = augmentation(resolve(params.augment, meta["channels"]))
    x, y = shards.arrays(prepared, "train")
    memory = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).cache()
    in_memory = images_per_second(params, meta, memory.prefetch(tf.data.AUTOTUNE), len(x))
    pipeline = images_per_second(params, meta, shards.training_epochs(prepared, batch, params.seed, augment), len(x))
    # The same augmentation on in-memory tensors: what reading the shards costs, apart from augmenting.
    augmented = augmented_batches(memory, augment, params.seed)
    in_memory_augmented = images_per_second(params, meta, augmented, len(x))
    return {
        "train_images": len(x),
        "image_shape": [*meta["image_size"], meta["channels"]],
        "pipeline_images_per_s": round(pipeline, 1),
        "in_memory_images_per_s": round(in_memory, 1),
        "efficiency": round(pipeline / in_memory, 3),
        "in_memory_augmented_images_per_s": round(in_memory_augmented, 1),
        "efficiency_vs_augmented": round(pipeline / in_memory_augmented, 3),
    }


def books_loader(repo: Path, convpipe_rate: float) -> dict:
    """Epoch time with `image_dataset_from_directory` over the train split's files, against convpipe's rate."""
    params = load_params(repo / "params.yaml")
    prepared = repo / load_paths(repo / "dvc.yaml").prepared
    meta = shards.read_meta(prepared)
    folder = _train_folder(repo, load_paths(repo / "dvc.yaml").split / "train.csv", repo / ".bench" / "books_train")
    batch = auto.batch_size(params.train.batch_size, meta["counts"]["train"]["total"])
    augment = augmentation(resolve(params.augment, meta["channels"]))
    books = tf.keras.utils.image_dataset_from_directory(
        folder,
        image_size=tuple(meta["image_size"]),
        batch_size=batch,
        seed=params.seed,
        color_mode=color_mode_of(meta["channels"]),
        class_names=meta["class_names"],
    )
    books = augmented_batches(books, augment, params.seed)
    images = meta["counts"]["train"]["total"]
    books_rate = images_per_second(params, meta, books, images)
    ours = shards.training_epochs(prepared, batch, params.seed, augment).epoch(0)
    return {
        "train_images": images,
        "books_epoch_s": round(images / books_rate, 3),
        "convpipe_epoch_s": round(images / convpipe_rate, 3),
        "speedup": round(convpipe_rate / books_rate, 2),
        "books_loader_alone_images_per_s": round(images / _second_pass(books), 1),
        "convpipe_loader_alone_images_per_s": round(images / _second_pass(ours), 1),
    }


def augmented_batches(ds, augment, seed: int):
    """`ds`'s batches through `augment`, each with its own seed, as training sees them."""
    return ds if augment is None else shards.augmented(ds, augment, seed).prefetch(tf.data.AUTOTUNE)


def _second_pass(ds) -> float:
    """Seconds to iterate `ds` once with no model, after a first pass (which fills convpipe's cache)."""
    for _ in ds:
        pass
    start = time.perf_counter()
    for _ in ds:
        pass
    return time.perf_counter() - start


def _train_folder(repo: Path, manifest: Path, dest: Path) -> Path:
    """The train split's image files as class folders (hard links), the layout the books' loader reads."""
    with open(repo / manifest, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            source = repo / row["path"] if not Path(row["path"]).is_absolute() else Path(row["path"])
            target = dest / row["label"] / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.link(source, target)
    return dest
