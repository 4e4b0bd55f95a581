"""The training images most like given images: the index stage's embedder and FAISS index, queried with
images preprocessed as in training."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convpipe.data.decoder import Decoder, Limits
from convpipe.evaluate import retrieval
from convpipe.serve import predict


@dataclass(frozen=True)
class Match:
    """The nearest indexed images for one file, best first, as (path, label, cosine similarity), or why none."""

    path: str
    neighbours: tuple[tuple[str, str, float], ...] = ()
    error: str | None = None


def find(files: list[Path], index_dir: Path, k: int, limits: Limits) -> Iterator[Match]:
    """Matches in the order of `files`, a batch at a time; a file that cannot be read gets an error instead."""
    from convpipe.model.saved import load_model  # TensorFlow loads here, after the arguments were checked

    index = retrieval.load(index_dir)
    embedder_file = Path(index_dir) / retrieval.EMBEDDER_FILE
    if not embedder_file.is_file():
        raise FileNotFoundError(f"{embedder_file}: not found (run the index stage: dvc repro index)")
    embedder = load_model(embedder_file)
    with Decoder(index.info["color_mode"], tuple(index.info["image_size"]), limits) as decoder:
        for batch in decoder.batches(files, predict.BATCH):
            found = iter(_neighbours(index, embedder, [item.pixels for item in batch if item.error is None], k))
            for item in batch:
                yield Match(str(item.path), error=item.error) if item.error else Match(str(item.path), next(found))


def _neighbours(index: retrieval.SearchIndex, embedder, pixels: list[np.ndarray], k: int) -> list[tuple]:
    """For each decoded uint8 image, its k nearest indexed images as (path, label, cosine similarity)."""
    if not pixels:
        return []
    vectors = embedder.predict(np.stack(pixels).astype(np.float32), batch_size=len(pixels), verbose=0)
    similarities, ids = retrieval.search(index.index, vectors, k)
    return [
        tuple((index.paths[i], index.labels[i], float(s)) for i, s in zip(rows, sims) if i >= 0)
        for sims, rows in zip(similarities, ids)
    ]
