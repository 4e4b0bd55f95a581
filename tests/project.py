"""A throw-away copy of the project for tests that run stages or `dvc repro` as a user would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from convpipe.bench import workspace
from convpipe.bench.workspace import set_params  # noqa: F401  (tests set params through this module)

ROOT = Path(__file__).resolve().parents[1]
with open(ROOT / "dvc.yaml", encoding="utf-8") as handle:
    STAGES = list(yaml.safe_load(handle)["stages"])  # in pipeline order

# Enough to exercise every stage in seconds: 15 digits per class, the default arch two blocks and a few filters
# wide, a couple of epochs, one export. The pipeline tests are about wiring, resuming and tracking, not accuracy.
TINY = {
    "data": {"max_per_class": 15},
    "model": {"filters": [8, 16]},
    "train": {"epochs": 2, "batch_size": 32},
    "finetune": {"epochs": 1},
    "export": {"formats": ["tflite_int8"], "representative_samples": 16, "latency_runs": 3},
    "gate": {"rules": {"test.accuracy": {"min": 0.0, "max_drop": 0.0}}},
}


def copy_project(dest: Path, git: bool = True, commit: bool = True, **sections: dict) -> Path:
    """Copy the code, dvc.yaml and params.yaml into `dest`, a git repository (unless `git` is false) where they
    are committed (unless `commit` is false); `sections` update params.yaml."""
    workspace.copy_project(ROOT, dest, git=git, **sections)
    if git and commit:
        run("git", "add", "-A", cwd=dest)
        run("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init", cwd=dest)
    return dest


def clean_env(**extra: str) -> dict:
    """The environment without the caller's tracking URI, so runs land in the copy's own mlflow.db."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "CI": "true", **extra}


def run(*args: str, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; on failure (when `check`) the assertion shows the tail of its output."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env or clean_env())
    if check:
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result
