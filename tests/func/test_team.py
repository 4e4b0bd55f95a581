"""Working as a team: a DVC remote on S3 (moto) and an MLflow server whose artifacts land in the same bucket.

Clone A runs the tiny pipeline once against the MLflow server, commits, runs one cheap experiment, and
pushes git (to a bare `origin`), the DVC cache with its run-cache, and the experiment. Teammates are fresh
`git clone`s of origin in other directories that only pull.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import servers
from tests.project import TINY, clean_env, copy_project, run, set_params

pytestmark = pytest.mark.slow

BUCKET = "convpipe"
STAGES = ["download", "split", "preprocess", "train", "finetune", "evaluate", "export", "report"]
EXPERIMENT = "fast-latency"
EXPERIMENT_PARAMS = {"export": {"latency_runs": 2}}  # a late-stage param: only export and report re-run
SAMPLE = "data/raw/3"  # images the models are compared on


@pytest.fixture(scope="module")
def s3():
    """An S3-compatible server with an empty bucket; yields its endpoint URL."""
    with servers.moto_server() as url:
        servers.create_bucket(url, BUCKET)
        yield url


@pytest.fixture(scope="module")
def tracking(s3, tmp_path_factory):
    """An MLflow server storing runs in SQLite and artifacts in s3://BUCKET/mlflow (proxied); yields its URI."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with servers.mlflow_server(f"sqlite:///{db}", f"s3://{BUCKET}/mlflow",
                               env={**servers.S3_ENV, "MLFLOW_S3_ENDPOINT_URL": s3}) as uri:
        yield uri


@pytest.fixture(scope="module")
def env(tracking):
    """A teammate's shell: the tracking server's URI and the object store's credentials."""
    return clean_env(MLFLOW_TRACKING_URI=tracking, **servers.S3_ENV)


def dvc(*args: str, cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    """`dvc ARGS` in `cwd`."""
    return run("dvc", *args, cwd=cwd, env=env, check=check)


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """The stages a `dvc repro` output says it ran."""
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output(result)}


@pytest.fixture(scope="module")
def clone_a(s3, env, tmp_path_factory):
    """Clone A after `dvc repro`, a commit, one experiment and every push; `origin` is a bare git repository."""
    base = tmp_path_factory.mktemp("team")
    repo = copy_project(base / "a", **TINY)
    run("git", "init", "-q", "--bare", str(base / "origin.git"), cwd=base)
    run("git", "remote", "add", "origin", str(base / "origin.git"), cwd=repo)
    dvc("remote", "add", "-d", "storage", f"s3://{BUCKET}/dvc", cwd=repo, env=env)
    dvc("remote", "modify", "storage", "endpointurl", s3, cwd=repo, env=env)
    assert ran(dvc("repro", cwd=repo, env=env)) == set(STAGES)
    run("git", "add", "-A", cwd=repo)
    run("git", "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-q", "-m", "tiny run", cwd=repo)
    # In a temporary copy, so A's workspace keeps the committed results.
    dvc("exp", "run", "--temp", "-n", EXPERIMENT, "-S", "export.latency_runs=2", cwd=repo, env=env)
    run("git", "push", "-q", "origin", "HEAD", cwd=repo)
    dvc("push", "--run-cache", cwd=repo, env=env)
    dvc("exp", "push", "origin", EXPERIMENT, cwd=repo, env=env)
    return repo


def teammate(clone_a: Path, env: dict, name: str) -> Path:
    """A fresh clone of origin beside A."""
    repo = clone_a.parent / name
    run("git", "clone", "-q", str(clone_a.parent / "origin.git"), str(repo), cwd=clone_a.parent)
    return repo


def predict_labels(repo: Path, env: dict) -> list[str]:
    """Top-1 labels of the sample images by the finetuned model, through `convpipe predict`."""
    result = run(sys.executable, "-m", "convpipe", "predict", SAMPLE, "--model", "models/finetune/model.keras",
                 "-k", "1", "--json", cwd=repo, env=env)
    return [row["top_k"][0]["label"] for row in json.loads(result.stdout)]


def test_a_fresh_clone_pulls_everything_and_reruns_nothing(clone_a, env):
    repo = teammate(clone_a, env, "b")
    dvc("pull", cwd=repo, env=env)
    assert "Data and pipelines are up to date" in output(dvc("status", cwd=repo, env=env))
    repro = dvc("repro", cwd=repo, env=env)
    assert ran(repro) == set(), output(repro)
    assert (repo / "reports" / "metrics.json").read_bytes() == (clone_a / "reports" / "metrics.json").read_bytes()
    labels = predict_labels(repo, env)
    assert len(labels) > 100
    assert labels == predict_labels(clone_a, env)
