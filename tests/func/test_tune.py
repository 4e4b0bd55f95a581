"""convpipe tune for real, on the shared built project with a tiny space: trials are DVC experiments run two at a
time and appliable; a killed study resumes, retrying the trial it cut off; a lagging trial is pruned in train and
recorded as pruned, with nothing cached for its params; the workspace never changes.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest
import yaml
from mlflow import MlflowClient

from tests.project import clean_env, run, set_params

pytestmark = pytest.mark.slow

TUNE = {
    "trials": 2,
    "workers": 2,
    "objectives": {"train.val_accuracy": "maximize"},
    "until": "auto",  # train: the one stage that writes train.* (the func tests of stages cover the rest)
    "startup_trials": 1,
    "warmup_epochs": 0,
}


def project(built_project, dest: Path, **tune) -> Path:
    """A committed copy of the built project whose tune section has `tune`."""
    repo = Path(shutil.copytree(built_project, dest, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db")))
    set_params(repo, tune={**TUNE, **tune})
    run("git", "add", "-A", cwd=repo)
    run("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "tune", cwd=repo)
    return repo


def tune(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "convpipe", "tune", *args, cwd=repo, check=check)


def experiments(repo: Path) -> dict[str, dict]:
    """name → params.yaml of every experiment `dvc exp show` lists."""
    shown = json.loads(run("dvc", "exp", "show", "--json", cwd=repo).stdout)
    return {
        exp["name"]: exp["revs"][0]["data"]["params"]["params.yaml"]["data"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
    }


def study(repo: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{repo / '.convpipe' / 'tune.db'}")


def workspace_unchanged(repo: Path) -> None:
    """Only the untracked plot and .convpipe (gitignored) may be new: params.yaml and dvc.lock are as committed."""
    assert run("git", "status", "--porcelain", cwd=repo).stdout.split("\n")[:-1] in ([], ["?? reports/tune.png"])


def test_trials_are_experiments_run_two_at_a_time_and_the_best_applies(built_project, tmp_path):
    space = {"model.dropout": {"low": 0.1, "high": 0.3}}
    repo = project(built_project, tmp_path / "repo", study="a", space=space, baseline=False, pruner="none")
    out = tune(repo).stdout
    print(out)
    workspace_unchanged(repo)
    trials = study(repo, "a").trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    shown = experiments(repo)
    assert set(shown) == {"a-0", "a-1"}
    for trial in trials:  # each experiment ran its trial's params
        assert shown[trial.user_attrs["experiment"]]["model"]["dropout"] == pytest.approx(trial.params["model.dropout"])
    assert "best (*): a-" in out and "dvc exp apply a-" in out
    logs = "".join(p.read_text() for p in (repo / ".convpipe" / "tune" / "a").glob("*.log"))
    assert "database is locked" not in logs and logs.count("Running stage 'train'") == 2

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("convpipe").experiment_id
    [own] = client.search_runs([experiment], "tags.`convpipe.tune.role` = 'study'")
    assert {a.path for a in client.list_artifacts(own.info.run_id)} == {"tune.json", "tune.png", "tune.txt"}
    parents = client.search_runs([experiment], "tags.`convpipe.tune.study` = 'a' and tags.`convpipe.tune.trial` != ''")
    assert sorted(p.data.tags["convpipe.tune.experiment"] for p in parents) == ["a-0", "a-1"]
    assert {p.data.tags["mlflow.parentRunId"] for p in parents} == {own.info.run_id}

    best = study(repo, "a").best_trial
    run("dvc", "exp", "apply", best.user_attrs["experiment"], cwd=repo)
    applied = yaml.safe_load((repo / "params.yaml").read_text())
    assert applied["model"]["dropout"] == pytest.approx(best.params["model.dropout"])
    assert "up to date" in run("dvc", "status", "train", cwd=repo).stdout  # its outputs came with it
    metrics = json.loads((repo / "reports" / "train.json").read_text())
    assert metrics["val_accuracy"] == pytest.approx(best.value)


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and all it started, as a power cut would."""
    tree = psutil.Process(process.pid)
    for child in [tree, *tree.children(recursive=True)]:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()


def test_a_killed_study_resumes_and_a_lagging_trial_is_pruned(built_project, tmp_path):
    # Trial 0 is params.yaml's own learning rate (restored from DVC's cache, so the driver replays its epochs from
    # its history.csv); later ones draw from up to 0.9, where Adam diverges: their val_loss lags trial 0's from the
    # first epoch, and the median pruner stops them.
    space = {"train.learning_rate": {"low": 0.002, "high": 0.9}}
    repo = project(built_project, tmp_path / "repo", study="b", space=space, workers=1)
    runs = repo / ".dvc" / "cache" / "runs"
    cached_runs = sorted(p.relative_to(runs) for p in runs.rglob("*") if p.is_file())
    log = open(tmp_path / "driver.log", "w")  # noqa: SIM115 (closed below; a pipe nobody reads could fill)
    driver = subprocess.Popen(
        [sys.executable, "-m", "convpipe", "tune"], cwd=repo, env=clean_env(), stdout=log, stderr=subprocess.STDOUT
    )
    trial_log = repo / ".convpipe" / "tune" / "b" / "b-1.log"
    deadline = time.monotonic() + 900
    while not (trial_log.exists() and "Running stage 'train'" in trial_log.read_text()):
        assert driver.poll() is None and time.monotonic() < deadline, (tmp_path / "driver.log").read_text()
        time.sleep(0.5)
    kill_tree(driver)
    log.close()
    workspace_unchanged(repo)
    left = study(repo, "b").trials
    assert [t.state.name for t in left] == ["COMPLETE", "RUNNING"]

    out = tune(repo, "--resume").stdout
    print(out)
    assert "trial b-1: interrupted earlier; its params run again" in out
    trials = study(repo, "b").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "PRUNED"]
    assert trials[1].user_attrs["interrupted"] == "interrupted by a killed study"
    assert trials[2].params == trials[1].params and trials[2].user_attrs["retry_of"] == 1
    assert trials[2].user_attrs["pruned_at_epoch"] == 0
    assert any(
        line.split()[:2] == ["b-2", "pruned"] and line.endswith("after train epoch 1") for line in out.splitlines()
    )
    log = (repo / ".convpipe" / "tune" / "b" / "b-2.log").read_text()
    assert "train: pruned after epoch 1: val_loss" in log and "exited with 3" in log
    # Only complete trials are experiments; a pruned train left nothing in the run-cache.
    assert set(experiments(repo)) == {"b-0"}
    assert sorted(p.relative_to(runs) for p in runs.rglob("*") if p.is_file()) == cached_runs
    workspace_unchanged(repo)
    again = tune(repo, check=False)
    assert again.returncode == 2 and "a study 'b' already exists" in again.stderr
