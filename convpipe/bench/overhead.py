"""What the pipeline costs around the model: a cold `dvc repro` per stage, and a no-op one."""

from __future__ import annotations

from pathlib import Path

from convpipe.bench.workspace import copy_project, stage_costs, timed


def overhead(root: Path, work: Path) -> tuple[dict, Path]:
    """Cold and no-op `dvc repro` of the default params in a copy; returns the figures and the copy."""
    repo = copy_project(root, work / "default")
    cold = timed("dvc", "repro", cwd=repo)
    noop = timed("dvc", "repro", cwd=repo)
    return {"cold_repro_s": round(cold, 2), "noop_repro_s": round(noop, 2), "stages": stage_costs(repo)}, repo
