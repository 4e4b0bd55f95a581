"""MLflow runs for pipeline stages, grouped under one parent run per pipeline execution.

A stage's main() opens `stage_run(...)`; model and data code never import MLflow.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import convpipe
from convpipe.params import Params

PIPELINE_TAG = "convpipe.pipeline"


class TrackingUnavailable(ConnectionError):
    """The MLflow tracking server, or the artifact store behind it, could not be reached or failed a request."""


def project_root(start: Path | None = None) -> Path:
    """The repository root, also from inside a queued `dvc exp` run's temporary copy."""
    path = (start or Path.cwd()).resolve()
    parts = path.parts
    for i in range(len(parts) - 3):
        if parts[i:i + 4] == (".dvc", "tmp", "exps", parts[i + 3]) and i:
            return Path(*parts[:i])
    return path


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else a SQLite store at the project root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def git_commit() -> str:
    """HEAD's commit hash, or 'unknown' outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def pipeline_key(params: Params) -> str:
    """Identifies one pipeline execution: the commit plus a hash of all params."""
    return f"{git_commit()[:12]}-{params.digest()}"


def _parent_run_id(client, experiment_id: str, params: Params) -> str:
    key = pipeline_key(params)
    found = client.search_runs([experiment_id], filter_string=f"tags.`{PIPELINE_TAG}` = '{key}'",
                               max_results=1, order_by=["attributes.start_time ASC"])
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"pipeline {key}",
                            tags={PIPELINE_TAG: key, "mlflow.source.git.commit": git_commit()})
    from mlflow.entities import Param

    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.flat().items()])
    client.set_terminated(run.info.run_id)
    return run.info.run_id


@contextmanager
def stage_run(stage: str, params: Params) -> Iterator[object]:
    """An MLflow run for `stage`, nested under this execution's parent run, with all params logged.

    When the tracking server or its artifact store cannot be reached, raises TrackingUnavailable naming
    the tracking URI (one readable line from the stage) instead of MLflow's traceback.
    """
    import mlflow
    import requests
    from mlflow.exceptions import MlflowException

    uri = tracking_uri()
    try:
        mlflow.set_tracking_uri(uri)
        experiment = mlflow.set_experiment(params.tracking.experiment)
        parent_id = _parent_run_id(mlflow.MlflowClient(), experiment.experiment_id, params)
        tags = {"convpipe.stage": stage, PIPELINE_TAG: pipeline_key(params),
                "mlflow.source.git.commit": git_commit()}
        with mlflow.start_run(run_name=stage, parent_run_id=parent_id, tags=tags) as run:
            mlflow.log_params(params.flat())
            mlflow.log_metric("startup_s", time.perf_counter() - convpipe.STARTED)
            yield run
            mlflow.log_metrics(process_costs())
            mlflow.set_tag("convpipe.imported_tensorflow", "tensorflow" in sys.modules)
    except (MlflowException, requests.RequestException) as err:
        # MLflow reports transport failures and server-side (5xx) errors as INTERNAL_ERROR; other codes
        # (a bad parameter, a missing run) are bugs here and keep their traceback.
        if getattr(err, "error_code", "INTERNAL_ERROR") != "INTERNAL_ERROR":
            raise
        raise TrackingUnavailable(f"MLflow at {uri} (tracking server or its artifact store) failed: "
                                  f"{_first_failure(err)}") from None


def _first_failure(err: Exception) -> str:
    # Closing the run after a failed upload fails too, raising a second error while the first is handled:
    # the earliest MLflow error in the chain is the one that explains.
    from mlflow.exceptions import MlflowException

    first = err
    while (err := err.__context__) is not None:
        if isinstance(err, MlflowException):
            first = err
    return getattr(first, "message", str(first))


def process_costs() -> dict[str, float]:
    """This process's wall time since convpipe was imported, CPU time and peak memory."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"stage_wall_s": time.perf_counter() - convpipe.STARTED, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024}  # ru_maxrss is in KiB on Linux


def log_to_parent(run, metrics: dict[str, float]) -> None:
    """Copy headline metrics onto the parent run, so executions compare side by side."""
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    mlflow.MlflowClient().log_batch(run.data.tags["mlflow.parentRunId"],
                                    metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
