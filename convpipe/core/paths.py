"""Where each stage reads and writes: dvc.yaml's `vars: paths`, the one place these are written down.

Not params: `dvc repro` deletes a stage's declared outputs before it runs the stage, so an output path that
a params value could set (`dvc exp run -S paths.raw=/elsewhere`) would let DVC delete a folder outside the
repository before any check of ours could run. dvc.yaml is code, and changes to it are reviewed as code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

import yaml

PIPELINE_FILE = Path("dvc.yaml")


@dataclass(frozen=True)
class Paths:
    """Every stage's inputs and outputs, relative to the project root."""

    raw: Path  # download → image folder, one subfolder per class
    split: Path  # split → train/val/test manifests
    prepared: Path  # preprocess → TFRecord shards and meta.json
    train: Path  # train → best model and per-epoch history
    finetune: Path  # finetune → final model and per-epoch history
    index: Path  # index → embedding index of the train split
    export: Path  # export → deployable artifacts
    reports: Path  # metrics, plots and data reports (small files, committed to git)


def inside_project(path: str) -> Path:
    """`path` as a Path, if it is relative and stays inside the project; else ValueError."""
    parts = PurePosixPath(str(path).replace("\\", "/")).parts
    if not parts or str(path).startswith(("/", "~")) or ".." in parts or ":" in parts[0]:
        raise ValueError(f"expected a relative path inside the project, got {path!r}")
    return Path(path)


def load_paths(pipeline: Path | str = PIPELINE_FILE) -> Paths:
    """The `paths` of dvc.yaml's `vars:`, each checked to stay inside the project."""
    with open(pipeline, encoding="utf-8") as handle:
        declared = yaml.safe_load(handle).get("vars", [])
    found = next((entry["paths"] for entry in declared if isinstance(entry, dict) and "paths" in entry), None)
    if not isinstance(found, dict):
        raise ValueError(f"{pipeline}: no `paths` mapping under `vars:`")
    names = [field.name for field in fields(Paths)]
    if sorted(found) != sorted(names):
        raise ValueError(f"{pipeline}: vars.paths must name exactly {', '.join(names)}; got {', '.join(found)}")
    checked = {}
    for name in names:
        try:
            checked[name] = inside_project(found[name])
        except ValueError as err:
            raise ValueError(f"{pipeline}: vars.paths.{name}: {err}") from None
    return Paths(**checked)
