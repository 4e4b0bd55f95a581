"""Decoded, resized images as sharded TFRecords, and the tf.data pipelines that read them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convpipe.data.images import ImageRejected, Skipped, load_image, resize
from convpipe.data.split import Record

META_FILE = "meta.json"


def _decode(job: tuple[str, str, int, tuple[int, int]]) -> tuple[np.ndarray | None, list[str] | str]:
    path, color_mode, max_pixels, size = job
    try:
        image, notes = load_image(Path(path), color_mode, max_pixels)
        return resize(image, size), notes
    except ImageRejected as rejected:
        return None, rejected.reason


def decode_all(
    records: list[Record], color_mode: str, max_pixels: int, size: tuple[int, int], workers: int
) -> Iterator[tuple[Record, np.ndarray | None, list[str] | str]]:
    """Decode and resize in worker threads, yielding (record, pixels or None, notes or reason) in order."""
    # Threads, not processes: Pillow releases the GIL while decoding and resizing, and a process pool
    # would have to re-import TensorFlow (spawn) or fork a process that already runs its threads.
    # Work goes out a window at a time, so memory stays flat however many images the split holds.
    window = max(workers, 1) * 32
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(records), window):
            chunk = records[start : start + window]
            jobs = [(r.path, color_mode, max_pixels, tuple(size)) for r in chunk]
            yield from ((record, *result) for record, result in zip(chunk, pool.map(_decode, jobs)))


@dataclass
class SplitSummary:
    counts: dict[str, int]
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)
    pixel_sum: float = 0.0
    pixel_sq_sum: float = 0.0
    pixel_count: int = 0

    def stats(self) -> dict[str, float]:
        """Mean and standard deviation of all pixel values (0-255)."""
        mean = self.pixel_sum / max(self.pixel_count, 1)
        return {"mean": mean, "std": max(self.pixel_sq_sum / max(self.pixel_count, 1) - mean**2, 0.0) ** 0.5}


def write_split(
    records: list[Record],
    class_names: list[str],
    out_dir: Path,
    split: str,
    shard_size: int,
    color_mode: str,
    max_pixels: int,
    size: tuple[int, int],
    workers: int,
) -> SplitSummary:
    """Write `split` as TFRecord shards; count classes, skipped files and pixel statistics."""
    import tensorflow as tf

    index = {name: i for i, name in enumerate(class_names)}
    summary = SplitSummary(dict.fromkeys(class_names, 0))
    writer, written = None, 0
    for record, pixels, info in decode_all(records, color_mode, max_pixels, size, workers):
        if pixels is None:
            summary.skipped.append(Skipped(record.path, info))
            continue
        summary.notes += [Skipped(record.path, note) for note in info]
        values = pixels.astype(np.float64)
        summary.pixel_sum += values.sum()
        summary.pixel_sq_sum += (values**2).sum()
        summary.pixel_count += values.size
        if written % shard_size == 0:
            if writer:
                writer.close()
            writer = tf.io.TFRecordWriter(str(out_dir / f"{split}-{written // shard_size:05d}.tfrecord"))
        writer.write(_example(pixels, index[record.label]))
        summary.counts[record.label] += 1
        written += 1
    if writer:
        writer.close()
    return summary


def _example(pixels: np.ndarray, label: int) -> bytes:
    import tensorflow as tf

    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pixels.tobytes()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    # deterministic: protobuf map order otherwise varies between processes, so equal shards would
    # differ byte-wise and DVC would see a changed output on every re-run.
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def read_meta(prepared_dir: Path) -> dict:
    """Class names, image shape and counts written by the preprocess stage."""
    with open(Path(prepared_dir) / META_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def files(prepared_dir: Path) -> list[Path]:
    """Every file the preprocess stage wrote (shards and meta.json), in a stable order."""
    return sorted(path for path in Path(prepared_dir).rglob("*") if path.is_file())


def examples(prepared_dir: Path, split: str):
    """(dataset of single (uint8 pixels H×W×C, int label), image count, shuffle buffer) for `split`."""
    import tensorflow as tf

    meta = read_meta(prepared_dir)
    shape = (*meta["image_size"], meta["channels"])
    files = sorted(str(p) for p in Path(prepared_dir).glob(f"{split}-*.tfrecord"))
    if not files:
        raise FileNotFoundError(f"{prepared_dir}: no {split}-*.tfrecord shards (run the preprocess stage)")
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(serialized):
        example = tf.io.parse_single_example(serialized, spec)
        return tf.reshape(tf.io.decode_raw(example["image"], tf.uint8), shape), example["label"]

    count, fits = meta["counts"][split]["total"], cache_budget() // int(np.prod(shape))
    ds = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    # A known length gives Keras its steps per epoch (its progress counts on across fit calls without it).
    ds = ds.apply(tf.data.experimental.assert_cardinality(count))
    # Decoded pixels are cached as uint8 (a quarter of float32) when they fit the memory budget;
    # otherwise each epoch re-reads the shards, which hold raw pixels and need no image decoding,
    # and the shuffle buffer is capped at what fits.
    return (ds.cache() if count <= fits else ds), count, max(min(count, fits), 1)


def dataset(prepared_dir: Path, split: str, batch_size: int, shuffle_seed: int | None = None):
    """Batches of (float32 pixels 0-255, int label) for `split`, reshuffled each epoch if given a seed."""
    import tensorflow as tf

    ds, _, buffer = examples(prepared_dir, split)
    if shuffle_seed is not None:
        ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(_to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _to_float(images, labels):
    import tensorflow as tf

    return tf.cast(images, tf.float32), labels


@dataclass(frozen=True)
class Epochs:
    """Training batches in which epoch e's order and augmentation depend on (seed, e) alone, so a fit
    resumed at epoch e after a kill sees exactly the batches an uninterrupted one would."""

    examples: Any  # tf.data.Dataset of single (pixels, label)
    count: int
    shuffle_buffer: int
    batch_size: int
    seed: int
    augment: Callable | None = None  # convpipe.data.augment's (images, seed) → images

    def key(self, number: int) -> int:
        """A seed for epoch `number`, distinct per (seed, epoch): epochs stay below 1,000,003."""
        return self.seed * 1_000_003 + number

    def epoch(self, number: int):
        """Epoch `number`'s batches of (float32 pixels 0-255, int label)."""
        import tensorflow as tf

        # A Python-int seed: tf.data cannot take a tensor seed while TensorFlow's global seed is 0.
        key = self.key(number)
        batches = self.examples.shuffle(self.shuffle_buffer, seed=key, reshuffle_each_iteration=False)
        batches = batches.batch(self.batch_size).map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
        if self.augment is not None:
            batches = augmented(batches, self.augment, key)
        return batches.prefetch(tf.data.AUTOTUNE)


def augmented(batches, augment: Callable, key: int):
    """`batches` of (images, labels) with the images through `augment`, batch i seeded by (key, i)."""
    import tensorflow as tf

    def one(step, batch):
        images, labels = batch
        return augment(images, tf.stack([tf.constant(key, tf.int64), step])), labels

    return batches.enumerate().map(one, num_parallel_calls=tf.data.AUTOTUNE)


def training_epochs(prepared_dir: Path, batch_size: int, seed: int, augment: Callable | None) -> Epochs:
    """The train split as `Epochs`."""
    ds, count, buffer = examples(prepared_dir, "train")
    return Epochs(ds, count, buffer, batch_size, seed, augment)


def cache_budget() -> int:
    """Bytes of decoded pixels a split may keep in memory: a quarter of this machine's RAM."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def arrays(prepared_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """All of `split` in memory: float32 pixels N×H×W×C (0-255) and int labels."""
    images, labels = [], []
    for x, y in dataset(prepared_dir, split, batch_size=1024).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)
