"""Queued experiments on the default SQLite store: `dvc queue start -j 2` runs them two at a time in copies of the
shared built project, each under its own MLflow parent run, with no "database is locked".
"""

import json
import time

import pytest

from tests.project import clean_env, run, set_params

pytestmark = pytest.mark.slow


def test_queued_experiments_run_two_at_a_time_on_sqlite(copy_of_built):
    repo = copy_of_built
    set_params(repo, export={"formats": ["tflite_float32"]})  # one format: export is what each experiment reruns
    run("git", "add", "-A", cwd=repo)
    run("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "baseline", cwd=repo)
    env = clean_env()  # no MLFLOW_TRACKING_URI: the default SQLite store at the project root
    # A late stage's param, so each experiment takes its earlier stages from the cache and reruns export.
    for runs in (4, 5, 6):
        run("dvc", "exp", "run", "--queue", "-S", f"export.latency_runs={runs}", cwd=repo, env=env)
    started = time.monotonic()
    run("dvc", "queue", "start", "-j", "2", cwd=repo, env=env)
    # Every `dvc queue status` costs a second or two of CPU, which the experiments are short of on two cores.
    while any(word in run("dvc", "queue", "status", cwd=repo, env=env).stdout for word in ("Queued", "Running")):
        time.sleep(5)
    print(f"three queued experiments took {time.monotonic() - started:.0f} s")
    status = run("dvc", "queue", "status", cwd=repo, env=env).stdout
    assert status.count("Success") == 3, status
    logs = "".join(
        run("dvc", "queue", "logs", line.split()[0], cwd=repo, env=env, check=False).stdout
        for line in status.splitlines()
        if "Success" in line
    )
    assert "database is locked" not in logs

    shown = json.loads(run("dvc", "exp", "show", "--json", cwd=repo, env=env).stdout)
    revs = [rev["data"] for baseline in shown for exp in baseline.get("experiments") or [] for rev in exp["revs"]]
    assert sorted(data["params"]["params.yaml"]["data"]["export"]["latency_runs"] for data in revs) == [4, 5, 6]
    for data in revs:
        assert 0 <= data["metrics"]["reports/metrics.json"]["data"]["test"]["accuracy"] <= 1
        assert data["metrics"]["reports/export.json"]["data"]["tflite_float32"]["latency_ms"] > 0

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("convpipe").experiment_id])
    parents = {r.info.run_id: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    assert sorted(r.data.params["export.latency_runs"] for r in parents.values()) == ["4", "5", "6"]
    # Each experiment's export run sits under its own parent, and finished.
    exports = [r for r in runs if r.data.tags.get("convpipe.stage") == "export"]
    assert sorted(parents[r.data.tags["mlflow.parentRunId"]].data.params["export.latency_runs"] for r in exports) == [
        "4",
        "5",
        "6",
    ]
    assert {r.info.status for r in runs} == {"FINISHED"}
