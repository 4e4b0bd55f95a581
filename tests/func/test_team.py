"""Working as a team: a DVC remote on S3 (moto) and an MLflow server whose artifacts land in the same bucket.

Clone A runs a small pipeline once against the MLflow server, commits, and pushes git (to a bare `origin`)
and the DVC cache with its run-cache. Teammates are fresh `git clone`s of origin in other directories:
one pulls and checks nothing re-runs, one runs and pushes an experiment, one pulls and applies it.
"""

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import servers
from tests.project import STAGES, TINY, clean_env, copy_project, run

pytestmark = pytest.mark.slow

BUCKET = "convpipe"
EXPERIMENT = "fast-latency"
# Smaller still than TINY where it is cheap to be: the transfers and the late stages are what is tested here.
PARAMS = {
    **TINY,
    "export": {**TINY["export"], "formats": ["tflite_float32"]},
    "evaluate": {"gradcam_images": 2, "worst_images": 4, "tsne_points": 10},
}


def digits_folder(folder: Path, per_class: int = 15) -> Path:
    """`per_class` of scikit-learn's digits per class as PNG class folders: a small `dir:` source."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        (folder / str(label)).mkdir(parents=True)
        for i in np.flatnonzero(digits.target == label)[:per_class]:
            Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(folder / str(label) / f"{i:04d}.png")
    return folder


def digit_images() -> np.ndarray:
    """All 1,797 digits as the model's 16×16 0-255 input (each pixel repeated 2×2)."""
    from sklearn.datasets import load_digits

    return (np.kron(load_digits().images, np.ones((2, 2))) * 255 / 16)[..., None].astype(np.float32)


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
    with servers.mlflow_server(
        f"sqlite:///{db}", f"s3://{BUCKET}/mlflow", env={**servers.S3_ENV, "MLFLOW_S3_ENDPOINT_URL": s3}
    ) as uri:
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
    """The stages a `dvc repro` or `dvc exp run` output says it ran."""
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output(result)}


@pytest.fixture(scope="module")
def clone_a(s3, env, tmp_path_factory):
    """Clone A after `dvc repro` and a commit, pushed to git (a bare `origin`) and to the DVC remote on S3."""
    base = tmp_path_factory.mktemp("team")
    source = digits_folder(base / "digits")
    repo = copy_project(base / "a", **{**PARAMS, "data": {**PARAMS["data"], "source": f"dir:{source}"}})
    run("git", "init", "-q", "--bare", str(base / "origin.git"), cwd=base)
    run("git", "remote", "add", "origin", str(base / "origin.git"), cwd=repo)
    dvc("remote", "add", "-d", "storage", f"s3://{BUCKET}/dvc", cwd=repo, env=env)
    dvc("remote", "modify", "storage", "endpointurl", s3, cwd=repo, env=env)
    assert ran(dvc("repro", cwd=repo, env=env)) == set(STAGES)
    run("git", "add", "-A", cwd=repo)
    run("git", "-c", "user.name=a", "-c", "user.email=a@example.com", "commit", "-q", "-m", "tiny run", cwd=repo)
    run("git", "push", "-q", "origin", "HEAD", cwd=repo)
    dvc("push", "--run-cache", cwd=repo, env=env)
    return repo


def teammate(clone_a: Path, name: str) -> Path:
    """A fresh clone of origin beside A."""
    repo = clone_a.parent / name
    run("git", "clone", "-q", str(clone_a.parent / "origin.git"), str(repo), cwd=clone_a.parent)
    return repo


@pytest.fixture(scope="module")
def experiment(clone_a, env):
    """Clone B after `dvc pull`, a late-stage experiment run in its workspace and `dvc exp push`ed; and its output."""
    repo = teammate(clone_a, "b")
    dvc("pull", cwd=repo, env=env)
    result = dvc("exp", "run", "-n", EXPERIMENT, "-S", "export.latency_runs=2", cwd=repo, env=env)
    dvc("exp", "push", "origin", EXPERIMENT, cwd=repo, env=env)
    return repo, result


def labels(repo: Path, images: np.ndarray) -> np.ndarray:
    """The finetuned model's predicted class indices for `images`."""
    import tensorflow as tf

    model = tf.keras.models.load_model(repo / "models" / "finetune" / "model.keras")
    return model.predict(images, verbose=0).argmax(axis=1)


def test_a_fresh_clone_pulls_everything_and_reruns_nothing(clone_a, env):
    repo = teammate(clone_a, "c")
    dvc("pull", cwd=repo, env=env)
    assert "Data and pipelines are up to date" in output(dvc("status", cwd=repo, env=env))
    repro = dvc("repro", cwd=repo, env=env)
    assert ran(repro) == set(), output(repro)
    assert (repo / "reports" / "metrics.json").read_bytes() == (clone_a / "reports" / "metrics.json").read_bytes()
    images = digit_images()
    np.testing.assert_array_equal(labels(repo, images), labels(clone_a, images))


def test_a_changed_param_reruns_only_the_stages_that_depend_on_it(experiment):
    _, result = experiment
    # export reads export.*; report reads export.json, which the new run rewrote. Nothing upstream runs.
    assert "export" in ran(result) and ran(result) <= {"export", "report"}, output(result)


def exp_ref(repo: Path, name: str) -> str:
    """The git ref of experiment `name` in `repo`."""
    refs = run("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo).stdout.split()
    return next(ref for ref in refs if ref.endswith(f"/{name}"))


def test_an_experiment_pushed_by_one_clone_is_pulled_and_applied_by_another(experiment, clone_a, env):
    author, _ = experiment
    repo = teammate(clone_a, "d")
    dvc("exp", "pull", "origin", EXPERIMENT, cwd=repo, env=env)
    dvc("exp", "apply", EXPERIMENT, cwd=repo, env=env)
    ref = exp_ref(author, EXPERIMENT)
    for name in ("params.yaml", "dvc.lock", "reports/metrics.json", "reports/export.json"):
        assert (repo / name).read_text() == run("git", "show", f"{ref}:{name}", cwd=author).stdout, name
    assert "latency_runs: 2" in (repo / "params.yaml").read_text()
    assert "Data and pipelines are up to date" in output(dvc("status", cwd=repo, env=env))


LOAD_CHAMPION = """
import sys
import numpy as np
import mlflow.pyfunc
model = mlflow.pyfunc.load_model("models:/convpipe-classifier@champion")
np.save(sys.argv[2], np.asarray(model.predict(np.load(sys.argv[1]))))
"""


def test_mlflow_artifacts_are_in_the_bucket_and_the_champion_loads_through_the_server(
    clone_a, env, s3, tracking, tmp_path
):
    keys = servers.list_keys(s3, BUCKET, "mlflow/")
    for name in ("metrics.json", "export.json", "report.md", "MLmodel", "model.keras"):
        assert any(key.endswith(f"/{name}") for key in keys), f"no {name} under s3://{BUCKET}/mlflow"
    assert not (clone_a / "mlflow.db").exists() and not (clone_a / "mlartifacts").exists()  # nothing stayed local
    run(sys.executable, "-m", "convpipe", "gate", "--promote", cwd=clone_a, env=env)

    images = digit_images()[:50]
    np.save(tmp_path / "images.npy", images)
    # A fresh process, outside the project, that knows the server's URI and nothing about S3.
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    run(
        sys.executable,
        "-c",
        LOAD_CHAMPION,
        str(tmp_path / "images.npy"),
        str(tmp_path / "out.npy"),
        cwd=tmp_path,
        env={**bare, "MLFLOW_TRACKING_URI": tracking, "TF_USE_LEGACY_KERAS": "1"},
    )
    import tensorflow as tf

    local = tf.keras.models.load_model(clone_a / "models" / "finetune" / "model.keras").predict(images, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), local, rtol=1e-5, atol=1e-6)


def snapshot(repo: Path, env: dict) -> tuple:
    """What must survive a failed transfer: `dvc status`, and every file in the workspace's outputs and cache."""
    files = {}
    for folder in ("data", "models", "reports", ".dvc/cache"):
        for path in sorted((repo / folder).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(repo))] = hashlib.md5(path.read_bytes()).hexdigest()
    return output(dvc("status", cwd=repo, env=env)), files


def test_an_unreachable_remote_or_a_wrong_key_fails_clearly_and_loses_nothing(clone_a, env):
    dead = f"http://127.0.0.1:{servers.free_port()}"
    before = snapshot(clone_a, env)
    # One attempt per request: the retries only make the same failure slower.
    quick = {**env, "AWS_MAX_ATTEMPTS": "1"}
    with servers.moto_server(check_credentials=True) as strict:
        for remote, url, reason in (
            ("unreachable", dead, "Could not connect to the endpoint URL"),
            ("refusing", strict, "Forbidden"),
        ):
            dvc("remote", "add", "--local", remote, f"s3://{BUCKET}/dvc", cwd=clone_a, env=env)
            dvc("remote", "modify", "--local", remote, "endpointurl", url, cwd=clone_a, env=env)
            push = dvc("push", "-r", remote, cwd=clone_a, env=quick, check=False)
            assert push.returncode != 0 and reason in output(push), output(push)
            pull = dvc("pull", "-r", remote, cwd=clone_a, env=quick, check=False)
            assert pull.returncode != 0 and reason in output(pull), output(pull)
            assert f"failed to connect to s3 ({BUCKET}/dvc/" in output(pull)
    assert snapshot(clone_a, env) == before


def test_an_interrupted_push_completes_when_run_again(clone_a, env, s3):
    dvc("remote", "add", "--local", "spare", f"s3://{BUCKET}/spare", cwd=clone_a, env=env)
    dvc("remote", "modify", "--local", "spare", "endpointurl", s3, cwd=clone_a, env=env)
    before = snapshot(clone_a, env)
    push = subprocess.Popen(
        ["dvc", "push", "-r", "spare", "-j", "1"],
        cwd=clone_a,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while push.poll() is None and len(servers.list_keys(s3, BUCKET, "spare/")) < 20:
        pass
    assert push.poll() is None, "the push finished before it could be interrupted"
    os.killpg(push.pid, signal.SIGKILL)
    push.wait()
    assert "new:" in output(dvc("status", "--cloud", "-r", "spare", cwd=clone_a, env=env))
    dvc("push", "-r", "spare", cwd=clone_a, env=env)
    assert "in sync" in output(dvc("status", "--cloud", "-r", "spare", cwd=clone_a, env=env))
    assert snapshot(clone_a, env) == before


def test_a_stage_names_the_tracking_server_it_cannot_reach(clone_a, env):
    repo = teammate(clone_a, "e")
    dead = f"http://127.0.0.1:{servers.free_port()}"
    result = run(
        sys.executable,
        "-m",
        "stages.download",
        cwd=repo,
        check=False,
        env={**env, "MLFLOW_TRACKING_URI": dead, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"download: error: MLflow at {dead} "), result.stderr
    assert "Traceback" not in result.stderr
