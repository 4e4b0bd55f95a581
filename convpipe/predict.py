"""Top-k labels for image files from any exported artifact, with the preprocessing the training used.

The export folder describes itself (labels.txt, preprocessing.json), so artifacts work without the pipeline.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convpipe.data.decoder import Decoder, Limits
from convpipe.data.images import list_images
from convpipe.runners import Loaded, predict_all

LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"
BATCH = 256  # files decoded and predicted at a time: memory stays flat however many are given


@dataclass(frozen=True)
class Preprocessing:
    """What an image goes through before the model: decode to color_mode, resize to image_size."""

    image_size: tuple[int, int]
    color_mode: str
    class_names: tuple[str, ...] | None  # None: no labels known, classes are shown by index


@dataclass(frozen=True)
class Prediction:
    """The top labels with probabilities for one file, or why it has none."""

    path: str
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None


def write_description(out_dir: Path, image_size: list[int], channels: int, class_names: list[str]) -> None:
    """labels.txt and preprocessing.json, so every artifact beside them can be used without the pipeline."""
    out_dir = Path(out_dir)
    (out_dir / LABELS_FILE).write_text("\n".join(class_names) + "\n", encoding="utf-8")
    description = {
        "image_size": list(image_size),  # height, width the model sees
        "color_mode": "grayscale" if channels == 1 else "rgb",
        "pixels": "0-255",  # raw pixel values; the models rescale inside
        "class_names": list(class_names),
    }
    with open(out_dir / PREPROCESSING_FILE, "w", encoding="utf-8") as handle:
        json.dump(description, handle, indent=2)


def _beside(artifact: Path, name: str) -> Path | None:
    # Files sit next to a .tflite/.onnx/.keras file; for a SavedModel folder also inside it.
    folders = [artifact, artifact.parent] if artifact.is_dir() else [artifact.parent]
    return next((folder / name for folder in folders if (folder / name).is_file()), None)


def preprocessing_for(artifact: Path, input_shape: tuple[int | None, int | None, int | None]) -> Preprocessing:
    """preprocessing.json beside the artifact, else what its input shape and labels.txt say."""
    artifact = Path(artifact)
    height, width, channels = input_shape
    described = _beside(artifact, PREPROCESSING_FILE)
    if described:
        with open(described, encoding="utf-8") as handle:
            spec = json.load(handle)
        prep = Preprocessing(tuple(spec["image_size"]), spec["color_mode"], tuple(spec["class_names"]))
    elif None in input_shape:
        raise ValueError(f"{artifact}: accepts images of any size and has no {PREPROCESSING_FILE} beside it, "
                         "so the training image size is unknown")
    else:
        labels = _beside(artifact, LABELS_FILE)
        names = tuple(labels.read_text(encoding="utf-8").splitlines()) if labels else None
        prep = Preprocessing((height, width), "grayscale" if channels == 1 else "rgb", names)
    if (height, width) != (None, None) and prep.image_size != (height, width):
        raise ValueError(f"{described}: image_size {list(prep.image_size)} but {artifact} takes {height}×{width}")
    if channels is not None and channels != (1 if prep.color_mode == "grayscale" else 3):
        raise ValueError(f"{described}: color_mode {prep.color_mode} but {artifact} takes {channels} channel(s)")
    return prep


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


def predict(files: list[Path], loaded: Loaded, prep: Preprocessing, k: int, limits: Limits) -> Iterator[Prediction]:
    """Predictions in the order of `files`, a batch at a time; a file that cannot be read gets an error instead."""
    with Decoder(prep.color_mode, prep.image_size, limits) as decoder:
        for batch in decoder.batches(files, BATCH):
            scores = iter(_probabilities(loaded, prep, [item.pixels for item in batch if item.error is None]))
            for item in batch:
                yield (Prediction(str(item.path), error=item.error) if item.error
                       else Prediction(str(item.path), top_k(next(scores), prep.class_names, k)))


def _probabilities(loaded: Loaded, prep: Preprocessing, pixels: list[np.ndarray]) -> np.ndarray:
    """The model's N×classes output for decoded uint8 images, checked against the class names."""
    if not pixels:
        return np.empty((0, 0))
    probabilities = predict_all(loaded.predict, np.stack(pixels).astype(np.float32))
    if prep.class_names and probabilities.shape[1] != len(prep.class_names):
        raise ValueError(f"model has {probabilities.shape[1]} outputs but {len(prep.class_names)} class names")
    return probabilities
