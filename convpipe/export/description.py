"""The export folder describes itself (labels.txt, preprocessing.json), so its artifacts work without the pipeline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from convpipe.data.images import CHANNELS, color_mode_of

LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"


@dataclass(frozen=True)
class Preprocessing:
    """What an image goes through before the model: decode to color_mode, resize to image_size."""

    image_size: tuple[int, int]
    color_mode: str
    class_names: tuple[str, ...] | None  # None: no labels known, classes are shown by index


def write_description(out_dir: Path, image_size: list[int], channels: int, class_names: list[str]) -> None:
    """labels.txt and preprocessing.json, so every artifact beside them can be used without the pipeline."""
    out_dir = Path(out_dir)
    (out_dir / LABELS_FILE).write_text("\n".join(class_names) + "\n", encoding="utf-8")
    description = {
        "image_size": list(image_size),  # height, width the model sees
        "color_mode": color_mode_of(channels),
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
        raise ValueError(
            f"{artifact}: accepts images of any size and has no {PREPROCESSING_FILE} beside it, "
            "so the training image size is unknown"
        )
    else:
        labels = _beside(artifact, LABELS_FILE)
        names = tuple(labels.read_text(encoding="utf-8").splitlines()) if labels else None
        prep = Preprocessing((height, width), color_mode_of(channels), names)
    if (height, width) != (None, None) and prep.image_size != (height, width):
        raise ValueError(f"{described}: image_size {list(prep.image_size)} but {artifact} takes {height}×{width}")
    if channels is not None and channels != CHANNELS[prep.color_mode]:
        raise ValueError(f"{described}: color_mode {prep.color_mode} but {artifact} takes {channels} channel(s)")
    return prep
