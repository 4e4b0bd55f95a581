"""The training images most like given images: the index stage's embedder and FAISS index, queried with
images preprocessed as in training."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convpipe import index, predict


@dataclass(frozen=True)
class Match:
    """The nearest indexed images for one file, best first, as (path, label, cosine similarity), or why none."""

    path: str
    neighbours: tuple[tuple[str, str, float], ...] = ()
    error: str | None = None


def find(files: list[Path], index_dir: Path, k: int) -> list[Match]:
    """Matches in the order of `files`; a file that cannot be read gets an error instead."""
    import tensorflow as tf

    loaded = index.load(index_dir)
    embedder_file = Path(index_dir) / index.EMBEDDER_FILE
    if not embedder_file.is_file():
        raise FileNotFoundError(f"{embedder_file}: not found (run the index stage: dvc repro index)")
    embedder = tf.keras.models.load_model(embedder_file, safe_mode=True)
    prep = predict.Preprocessing(tuple(loaded.info["image_size"]), loaded.info["color_mode"], None)
    images, errors = predict.read_all(files, prep)
    found = {}
    if images:
        vectors = embedder.predict(np.stack(list(images.values())), batch_size=256, verbose=0)
        similarities, ids = index.search(loaded.index, vectors, k)
        for position, sims, rows in zip(images, similarities, ids):
            found[position] = tuple((loaded.paths[i], loaded.labels[i], float(s)) for i, s in zip(rows, sims) if i >= 0)
    return [Match(str(path), error=errors[i]) if i in errors else Match(str(path), found[i])
            for i, path in enumerate(files)]
