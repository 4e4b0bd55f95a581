"""A throw-away copy of the project for tests that run stages or `dvc repro` as a user would."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Enough to exercise every stage in seconds: 15 digits per class, a couple of epochs, one export.
TINY = {
    "data": {"max_per_class": 15},
    "train": {"epochs": 2, "batch_size": 32},
    "finetune": {"epochs": 1},
    "export": {"formats": ["tflite_int8"], "representative_samples": 16, "latency_runs": 3},
    "gate": {"rules": {"test.accuracy": {"min": 0.0, "max_drop": 0.0}}},
}


def copy_project(dest: Path, git: bool = True, **sections: dict) -> Path:
    """Copy the code, dvc.yaml and params.yaml into `dest`; `sections` update params.yaml section by section."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / item, dest / item)
    for folder in ("convpipe", "stages", ".dvc"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
    set_params(dest, **sections)
    if git:
        run("git", "init", "-q", cwd=dest)
        run("git", "add", "-A", cwd=dest)
        run("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init", cwd=dest)
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
