"""Throw-away copies of the project, in which the benchmark (and the functional tests) run the real pipeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import yaml

PROJECT_FILES = ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore")
PROJECT_FOLDERS = ("convpipe", "stages", ".dvc", "data/review")  # data/review: a dependency of split


def copy_project(root: Path, dest: Path, git: bool = True, **sections: dict) -> Path:
    """Copy the code, dvc.yaml and params.yaml of `root` into `dest` (a new git repository unless `git` is
    false); `sections` update params.yaml as set_params does."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in PROJECT_FILES:
        if (root / item).exists():
            shutil.copy(root / item, dest / item)
    for folder in PROJECT_FOLDERS:
        shutil.copytree(root / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
    set_params(dest, **sections)
    if git:
        subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def set_params(repo: Path, **sections: dict) -> None:
    """Update params.yaml: a dict updates the section's keys, anything else replaces the section."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(params.get(section), dict):
            params[section].update(values)
        else:
            params[section] = values
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def timed(*args: str, cwd: Path) -> float:
    """Run a command in `cwd` with the copy's own MLflow store; its wall time in seconds."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed in {cwd}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def stage_costs(repo: Path) -> dict[str, dict[str, float]]:
    """Each stage's start-up, wall, CPU time and peak memory, as its MLflow run in `repo` logged them."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    costs = {}
    for experiment in client.search_experiments():
        for run in client.search_runs(
            [experiment.experiment_id], "tags.`convpipe.stage` != ''", order_by=["attributes.start_time ASC"]
        ):
            metrics = run.data.metrics
            costs[run.data.tags["convpipe.stage"]] = {
                **{
                    k: round(metrics[k], 3)
                    for k in ("startup_s", "stage_wall_s", "cpu_s", "peak_rss_mb")
                    if k in metrics
                },
                "imports_tensorflow": run.data.tags.get("convpipe.imported_tensorflow") == "True",
            }
    return costs
