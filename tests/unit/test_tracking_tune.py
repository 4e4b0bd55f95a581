"""MLflow inside `convpipe tune`: the study's own run, and each trial's pipeline run nested under it."""

import json
from pathlib import Path

from mlflow import MlflowClient

from convpipe.core import tracking
from convpipe.core.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def test_each_trial_gets_a_pipeline_run_of_its_own_under_the_study_run(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv(tracking.TUNE_ENV, raising=False)
    params = load_params(ROOT / "params.yaml")
    with tracking.study_run("s", params) as study:
        study_id = study.run.info.run_id

    parents = []
    for trial in (3, 4):  # same params, two trials: two parent runs
        context = {"study": "s", "trial": trial, "experiment": f"s-{trial}", "study_run": study_id}
        monkeypatch.setenv(tracking.TUNE_ENV, json.dumps(context))
        with tracking.stage_run("download", params) as run:
            parents.append(run.run.data.tags["mlflow.parentRunId"])
    assert len(set(parents)) == 2
    client = MlflowClient(uri)
    first = client.get_run(parents[0])
    assert first.info.run_name == "trial s-3"
    assert first.data.tags[tracking.STUDY_TAG] == "s"
    assert first.data.tags["convpipe.tune.trial"] == "3"
    assert first.data.tags["convpipe.tune.experiment"] == "s-3"
    assert first.data.tags["mlflow.parentRunId"] == study_id

    with tracking.study_run("s", params) as again:  # a resumed study reopens its run
        assert again.run.info.run_id == study_id
    monkeypatch.delenv(tracking.TUNE_ENV)
    with tracking.stage_run("download", params) as run:  # outside a study: the plain pipeline parent
        plain = client.get_run(run.run.data.tags["mlflow.parentRunId"])
    assert tracking.STUDY_TAG not in plain.data.tags
    assert plain.info.run_name.startswith("pipeline ")
