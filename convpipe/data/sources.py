"""Materialise `data.source` as an image folder: raw/<class>/<file>, whatever the source."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from convpipe.core.urls import redact_source
from convpipe.data import archives, folder_source, layout
from convpipe.data.images import Skipped

CACHE_DIR = Path(".convpipe")  # downloads and extracted archives, outside DVC's outputs


def materialise(data, raw_dir: Path) -> dict[str, int]:
    """Write the images of `data.source` under raw_dir/<class>/ and a download report; return class counts."""
    kind, _, where = data.source.partition(":")
    skipped: list[Skipped] = []
    renamed: list[folder_source.Renamed] = []
    if kind == "sklearn":
        counts = sklearn_dataset(where, raw_dir)
    elif kind == "tfds":
        from convpipe.data.tfds_source import export_tfds

        counts = export_tfds(where, raw_dir, data.tfds_data_dir, data.keep_source_splits, data.max_per_class)
    elif kind == "dir":
        skipped, renamed = folder_source.copy_tree(folder_source.find_layout(Path(where).expanduser()), raw_dir)
        counts = _count(raw_dir)
    else:  # url, checked by the params schema
        archive = archives.download(where, CACHE_DIR / "downloads", data.sha256, data.max_download_bytes)
        extracted = CACHE_DIR / "extracted" / archive.name
        bounds = archives.Bounds(data.max_extract_bytes, data.max_compression_ratio)
        root = archives.single_root(extracted) if extracted.exists() else archives.extract(archive, extracted, bounds)
        skipped, renamed = folder_source.copy_tree(folder_source.find_layout(root), raw_dir)
        counts = _count(raw_dir)
    layout.write_download_report(
        raw_dir,
        {
            "source": redact_source(data.source),
            "counts": counts,
            "skipped": [asdict(s) for s in skipped],
            "renamed": [asdict(r) for r in renamed],
        },
    )
    return counts


def sklearn_dataset(name: str, raw_dir: Path) -> dict[str, int]:
    """The 1,797 8×8 handwritten digits that ship inside scikit-learn: no network needed."""
    if name != "digits":
        raise ValueError(f"data.source: sklearn:{name} is not available; the embedded dataset is sklearn:digits")
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel values are ink counts 0-16; stretch to the 0-255 of an ordinary 8-bit image.
    pixels = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    for index, (image, label) in enumerate(zip(pixels, digits.target)):
        folder = raw_dir / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"digit-{index:04d}.png")
    return _count(raw_dir)


def _count(raw_dir: Path) -> dict[str, int]:
    return {d.name: sum(1 for p in d.rglob("*") if p.is_file()) for d in sorted(raw_dir.iterdir()) if d.is_dir()}
