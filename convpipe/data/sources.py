"""Materialise `data.source` as an image folder: raw/<class>/<file>."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def fetch(source: str, raw_dir: Path) -> dict[str, int]:
    """Write the images of `source` under raw_dir/<class>/; return the count per class."""
    kind, _, name = source.partition(":")
    if kind == "sklearn" and name == "digits":
        return _sklearn_digits(raw_dir)
    raise ValueError(f"data.source: {source!r} is not supported yet (available: sklearn:digits)")


def _sklearn_digits(raw_dir: Path) -> dict[str, int]:
    """The 1,797 8×8 handwritten digits that ship inside scikit-learn: no network needed."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values are ink counts 0-16; stretch to the 0-255 of an ordinary 8-bit image.
    pixels = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    counts: dict[str, int] = {}
    for index, (image, label) in enumerate(zip(pixels, digits.target)):
        folder = raw_dir / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"digit-{index:04d}.png")
        counts[str(label)] = counts.get(str(label), 0) + 1
    return dict(sorted(counts.items()))
