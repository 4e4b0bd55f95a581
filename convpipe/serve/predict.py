"""Top-k labels for image files from any exported artifact, with the preprocessing the training used."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convpipe.data.decoder import Decoder, Limits
from convpipe.data.images import list_images
from convpipe.export.description import Preprocessing
from convpipe.export.runtimes import Artifact, predict_all

BATCH = 256  # files decoded and predicted at a time: memory stays flat however many are given


@dataclass(frozen=True)
class Prediction:
    """The top labels with probabilities for one file, or why it has none."""

    path: str
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None


def expand(inputs: list[Path]) -> tuple[list[Path], int]:
    """Files as given and the images found under folders, with how many non-image files were passed over."""
    files, passed_over = [], 0
    for item in map(Path, inputs):
        if item.is_dir():
            found, skipped = list_images(item)
            files += found
            passed_over += len(skipped)
        else:
            files.append(item)  # a given file is tried whatever its extension; Pillow reads the content
    return files, passed_over


def top_k(probabilities: np.ndarray, class_names: tuple[str, ...] | None, k: int) -> tuple[tuple[str, float], ...]:
    """The k most probable classes, highest first, as (label, probability)."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return tuple((class_names[i] if class_names else str(i), float(probabilities[i])) for i in order)


def predict(files: list[Path], artifact: Artifact, prep: Preprocessing, k: int, limits: Limits) -> Iterator[Prediction]:
    """Predictions in the order of `files`, a batch at a time; a file that cannot be read gets an error instead."""
    with Decoder(prep.color_mode, prep.image_size, limits) as decoder:
        for batch in decoder.batches(files, BATCH):
            scores = iter(_probabilities(artifact, prep, [item.pixels for item in batch if item.error is None]))
            for item in batch:
                yield (
                    Prediction(str(item.path), error=item.error)
                    if item.error
                    else Prediction(str(item.path), top_k(next(scores), prep.class_names, k))
                )


def _probabilities(artifact: Artifact, prep: Preprocessing, pixels: list[np.ndarray]) -> np.ndarray:
    """The model's N×classes output for decoded uint8 images, checked against the class names."""
    if not pixels:
        return np.empty((0, 0))
    probabilities = predict_all(artifact.predict, np.stack(pixels).astype(np.float32))
    if prep.class_names and probabilities.shape[1] != len(prep.class_names):
        raise ValueError(f"model has {probabilities.shape[1]} outputs but {len(prep.class_names)} class names")
    return probabilities
