"""Tracking for real: the pipeline against an `mlflow server` on PostgreSQL with served artifacts, read back
over its REST API, with the server killed during train and restarted; an unreachable store, required or
not. Queued experiments on the default SQLite store are in test_tracking_queue.py.

One pipeline run feeds every test (module-scoped), so the whole module costs about one and a half pipeline runs.
"""

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests import servers
from tests.project import STAGES, TINY, clean_env, copy_project, run, set_params

pytestmark = pytest.mark.slow

TRAIN_EPOCHS = 4
# TINY, with train long enough to be killed during, and evaluate and export pared down: other tests cover them.
PARAMS = {
    **TINY,
    "train": {**TINY["train"], "epochs": TRAIN_EPOCHS, "patience": TRAIN_EPOCHS},
    "evaluate": {"tsne_points": 10, "gradcam_images": 2, "worst_images": 2},
    "export": {**TINY["export"], "formats": ["tflite_float32"]},
}


def api(uri: str, endpoint: str, body: dict | None = None, **query) -> dict:
    """A call to the MLflow REST API: POST `body` as JSON, else GET with `query`."""
    url = f"{uri}/api/2.0/{endpoint}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def stage_runs(uri: str, stage: str) -> list[dict]:
    """Every run of `stage` in the convpipe experiment (none before the experiment exists)."""
    try:
        experiment = api(uri, "mlflow/experiments/get-by-name", experiment_name="convpipe")["experiment"]
    except urllib.error.HTTPError:
        return []
    found = api(
        uri,
        "mlflow/runs/search",
        {
            "experiment_ids": [experiment["experiment_id"]],
            "filter": f"tags.`convpipe.stage` = '{stage}'",
            "max_results": 100,
        },
    )
    return found.get("runs", [])


def logged_epochs(uri: str, run: dict) -> set[int]:
    """The steps at which `run` logged val_loss."""
    history = api(uri, "mlflow/metrics/get-history", run_id=run["info"]["run_id"], metric_key="val_loss")
    return {int(point.get("step", 0)) for point in history.get("metrics", [])}


def wait_for_the_train_run(uri: str, repro: subprocess.Popen, log: Path) -> None:
    """Return once the train stage's run holds its params: it is about to build the model and fit."""
    deadline = time.monotonic() + 900
    while not any(run["data"].get("params") for run in stage_runs(uri, "train")):
        assert repro.poll() is None and time.monotonic() < deadline, f"train never started:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`dvc repro` against a server killed after train's first epoch, then restarted, then `dvc repro`."""
    tmp = tmp_path_factory.mktemp("tracking")
    repo = copy_project(tmp / "repo", **PARAMS)
    artifacts, port = tmp / "artifacts", servers.free_port()
    env = clean_env(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}")
    with servers.postgres(tmp) as database:
        with servers.mlflow_server(database, artifacts, port=port) as uri:
            with open(tmp / "repro.log", "w") as log:  # a file, not a pipe nobody reads while waiting
                repro = subprocess.Popen(["dvc", "repro"], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
            wait_for_the_train_run(uri, repro, tmp / "repro.log")
            # Kill once the first epoch is backed up, so the resume provably starts later (killing as soon as
            # the run exists could land before any backup, and train would then rightly start again at 0).
            backup = repo / ".convpipe" / "backup" / "train" / "epochs" / "chief" / "checkpoint"
            while not backup.exists() and repro.poll() is None:
                time.sleep(0.05)
            servers.kill(uri)
            killed = time.monotonic()
        repro.wait(600)
        failed = SimpleNamespace(
            returncode=repro.returncode,
            output=(tmp / "repro.log").read_text(),
            seconds=time.monotonic() - killed,
            locked=set(yaml.safe_load((repo / "dvc.lock").read_text())["stages"]),
            train_files=sorted(p.name for p in (repo / "models" / "train").glob("*")),
        )
        print(f"stage failed {failed.seconds:.1f} s after the server was killed")
        with servers.mlflow_server(database, artifacts, port=port) as uri:
            resumed = run("dvc", "repro", cwd=repo, env=env)
            yield SimpleNamespace(
                repo=repo, uri=uri, artifacts=artifacts, env=env, failed=failed, resumed=resumed.stdout + resumed.stderr
            )


def test_a_server_dying_mid_train_fails_the_stage_cleanly(stack):
    failed = stack.failed
    assert failed.returncode != 0
    assert f"train: error: MLflow at {stack.uri} (tracking server or its artifact store) failed: " in failed.output
    assert "Traceback" not in failed.output
    # DVC records a stage only once it completes; train left no model that could pass for finished.
    assert failed.locked == {"download", "split", "preprocess"}
    assert "model.keras" not in failed.train_files


def test_the_next_repro_resumes_train_and_completes(stack):
    assert "Running stage 'train'" in stack.resumed
    assert "Running stage 'preprocess'" not in stack.resumed
    assert set(yaml.safe_load((stack.repo / "dvc.lock").read_text())["stages"]) == set(STAGES)
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=stack.repo, env=stack.env).stdout
    # train resumed from the epoch where the first attempt died, yet its history holds every epoch.
    history = (stack.repo / "models" / "train" / "history.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in history] == list(range(TRAIN_EPOCHS))
    finished = [r for r in stage_runs(stack.uri, "train") if r["info"]["status"] == "FINISHED"]
    epochs = logged_epochs(stack.uri, finished[0])
    assert 0 < min(epochs) and max(epochs) == TRAIN_EPOCHS - 1


def test_runs_metrics_and_artifacts_over_the_rest_api(stack):
    uri = stack.uri
    experiment = api(uri, "mlflow/experiments/get-by-name", experiment_name="convpipe")["experiment"]
    runs = api(uri, "mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]], "max_results": 100})["runs"]
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    parents = [r for r, t in zip(runs, tags) if "mlflow.parentRunId" not in t]
    assert len(parents) == 1
    finished = {
        t["convpipe.stage"]: r
        for r, t in zip(runs, tags)
        if "convpipe.stage" in t and r["info"]["status"] == "FINISHED"
    }
    assert set(finished) == set(STAGES)
    # The killed attempt stays RUNNING: its end could not reach the dead server.
    statuses = sorted(r["info"]["status"] for r, t in zip(runs, tags) if t.get("convpipe.stage") == "train")
    assert statuses == ["FINISHED", "RUNNING"]
    for r, t in zip(runs, tags):
        if r is not parents[0]:
            assert t["mlflow.parentRunId"] == parents[0]["info"]["run_id"]

    evaluate = finished["evaluate"]
    metrics = {m["key"]: m["value"] for m in evaluate["data"]["metrics"]}
    on_disk = json.loads((stack.repo / "reports" / "metrics.json").read_text())
    assert metrics["test.accuracy"] == pytest.approx(on_disk["test"]["accuracy"])
    params = {p["key"]: p["value"] for p in evaluate["data"]["params"]}
    assert params["train.epochs"] == str(TRAIN_EPOCHS)

    listed = api(uri, "mlflow/artifacts/list", run_id=finished["train"]["info"]["run_id"], path="model")
    assert {"model/model.keras", "model/history.csv"} <= {f["path"] for f in listed["files"]}
    # The artifact proxy serves what the run logged, byte for byte, from --artifacts-destination.
    root = evaluate["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    with urllib.request.urlopen(f"{uri}/api/2.0/mlflow-artifacts/artifacts/{root}/metrics.json", timeout=30) as r:
        assert json.loads(r.read()) == on_disk
    assert list(stack.artifacts.rglob("model.keras"))

    alias = api(uri, "mlflow/registered-models/alias", name="convpipe-classifier", alias="candidate")
    assert alias["model_version"]["run_id"] == evaluate["info"]["run_id"]


def test_an_unreachable_store_fails_fast_unless_tracking_is_optional(tmp_path):
    repo = copy_project(tmp_path / "repo", git=False, **TINY)
    dead = f"http://127.0.0.1:{servers.free_port()}"
    started = time.monotonic()
    result = run("python", "-m", "stages.download", cwd=repo, env=clean_env(MLFLOW_TRACKING_URI=dead), check=False)
    print(f"failed in {time.monotonic() - started:.1f} s")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"download: error: MLflow at {dead} unreachable: no answer to GET /health ([Errno 111] Connection "
        "refused) (set tracking.required: false in params.yaml to run without tracking)"
    ]
    assert not (repo / "data" / "raw").exists()  # it failed before doing any work

    set_params(repo, tracking={"required": False})
    result = run("python", "-m", "stages.download", cwd=repo, env=clean_env(MLFLOW_TRACKING_URI=dead))
    assert result.stderr.count("tracking skipped") == 1
    assert f"download: tracking skipped: {dead} unreachable" in result.stderr
    assert len(list((repo / "data" / "raw").rglob("*.png"))) == 1797
