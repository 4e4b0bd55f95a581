"""Preprocess of a generated image folder at growing sizes: images/s, cores used and peak memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from convpipe.bench.workspace import copy_project, stage_costs, timed

CLASSES = 4


def generate(folder: Path, count: int, seed: int = 0) -> None:
    """`count` distinct smooth 128×128 JPEGs in CLASSES class folders (photo-like: cheap to encode, real to decode)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        path = folder / f"class_{i % CLASSES}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        coarse.resize((128, 128), Image.BILINEAR).save(path, quality=90)


def scale(root: Path, work: Path, sizes: list[int]) -> list[dict]:
    """Run download → split → preprocess on the first N images of one generated folder, for each N."""
    folder = work / "generated"
    generate(folder, max(sizes))
    rows = []
    for size in sizes:
        repo = copy_project(
            root,
            work / f"scale_{size}",
            data={
                "source": f"dir:{folder}",
                "color_mode": "rgb",
                "image_size": [64, 64],
                "max_per_class": size // CLASSES,
            },
        )
        timed("dvc", "repro", "preprocess", cwd=repo)
        costs = stage_costs(repo)["preprocess"]
        work_s = costs["stage_wall_s"] - costs["startup_s"]
        rows.append(
            {
                "images": size,
                "images_per_s": round(size / work_s, 1),
                "cores_used": round(costs["cpu_s"] / costs["stage_wall_s"], 2),
                "peak_rss_mb": round(costs["peak_rss_mb"], 1),
                "split_peak_rss_mb": round(stage_costs(repo)["split"]["peak_rss_mb"], 1),
            }
        )
    return rows
