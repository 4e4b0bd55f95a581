"""Shared fixtures: the one prepared project that the functional tests read or copy."""

import fcntl
import shutil
from pathlib import Path

import pytest

import convpipe  # noqa: F401  (Keras 2 before any test touches tf.keras)
from tests import project as project_copy

# The shared project: TINY with two finetune epochs (so a killed finetune can resume) and every export format.
BUILT = {**project_copy.TINY, "finetune": {"epochs": 2}, "export": {"representative_samples": 16, "latency_runs": 3}}


@pytest.fixture(scope="session")
def built_project(tmp_path_factory, worker_id) -> Path:
    """A project copy with BUILT params after one full `dvc repro`, built once per test session whatever the
    number of xdist workers. Read it; to change anything, take `copy_of_built`."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    repo = shared / "built-project"
    with open(shared / "built-project.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds; the others wait, then read
        if not (repo / "reports" / "report.md").exists():
            shutil.rmtree(repo, ignore_errors=True)
            project_copy.copy_project(repo, **BUILT)
            result = project_copy.run("dvc", "repro", cwd=repo)
            (repo / ".dvc" / "tmp" / "repro.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    return repo


@pytest.fixture
def copy_of_built(built_project, tmp_path) -> Path:
    """A private copy of the built project (git, DVC cache and outputs), with an empty MLflow store of its own."""
    return Path(
        shutil.copytree(
            built_project,
            tmp_path / "project",
            symlinks=True,
            ignore=shutil.ignore_patterns("mlflow.db", "mlruns", "mlartifacts"),
        )
    )
