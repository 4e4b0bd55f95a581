"""A stage's MLflow failures: transport and server errors become one line naming the tracking URI; bugs do not."""

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from convpipe.core import tracking
from convpipe.core.params import load_params

ROOT = Path(__file__).resolve().parents[2]


def test_the_first_mlflow_failure_in_the_chain_is_the_one_reported():
    try:
        try:
            raise MlflowException("PUT .../artifacts/metrics.json: too many 500 error responses")
        except MlflowException:
            # closing the run, after it: raised while handling the first, as MLflow does (so no `from`)
            raise MlflowException("GET .../runs/get: connection reset")  # noqa: B904
    except MlflowException as err:
        assert tracking._first_failure(err) == "PUT .../artifacts/metrics.json: too many 500 error responses"


def test_stage_run_names_the_tracking_uri_and_keeps_bugs_as_they_are(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    params = load_params(ROOT / "params.yaml")
    with pytest.raises(tracking.TrackingUnavailable, match=f"^MLflow at {uri} .*failed: the store is down$"):
        with tracking.stage_run("download", params):
            raise MlflowException("the store is down")  # what MLflow raises for a 5xx or a refused connection
    with pytest.raises(MlflowException, match="bad value"):
        with tracking.stage_run("download", params):
            raise MlflowException("bad value", error_code=INVALID_PARAMETER_VALUE)
