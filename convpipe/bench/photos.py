"""The input-pipeline figures on a real photo folder, resized to 160×160 RGB."""

from __future__ import annotations

from pathlib import Path

from convpipe.bench.input_pipeline import books_loader, efficiency
from convpipe.bench.workspace import copy_project, timed

PHOTO_DATA = {"color_mode": "rgb", "image_size": [160, 160]}


def photos(root: Path, work: Path, folder: Path) -> dict:
    """Import `folder` through download → split → preprocess, then measure the pipeline and the books' loader."""
    repo = copy_project(root, work / "photos", data={"source": f"dir:{folder}", **PHOTO_DATA})
    timed("dvc", "repro", "preprocess", cwd=repo)
    input_figures = efficiency(repo)
    return {
        "folder": str(folder),
        "input": input_figures,
        "books_loader": books_loader(repo, input_figures["pipeline_images_per_s"]),
    }
