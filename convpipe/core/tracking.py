"""MLflow runs for pipeline stages, grouped under one parent run per pipeline execution.

A stage's main() opens `stage_run(...)`; model and data code never import MLflow. The tracking store is
checked before a stage does any heavy work: unreachable, it fails the stage (tracking.required: true) or
the stage runs untracked and says so (tracking.required: false).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import convpipe
from convpipe.core.params import Params
from convpipe.core.text import first_line, shorten
from convpipe.core.urls import redact

PIPELINE_TAG = "convpipe.pipeline"
# `convpipe tune` runs each trial as `dvc exp run` with this variable set to a JSON object: study, trial (number),
# experiment (its DVC name), study_run (the MLflow run the trial's pipeline run nests under), and for the train
# stage's pruning callback storage and pruner. Unset, every stage runs exactly as without a study.
TUNE_ENV = "CONVPIPE_TUNE"
STUDY_TAG = "convpipe.tune.study"
CHECK_TIMEOUT = 3.0  # seconds the pre-flight check waits for a tracking server to answer
# MLflow's HTTP client retries for about four minutes by default; a stage whose server died should fail in
# seconds. Set in the environment, they still win.
HTTP_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


class TrackingUnavailable(ConnectionError):
    """The MLflow tracking server, or the artifact store behind it, could not be reached or failed a request."""


def project_root(start: Path | None = None) -> Path:
    """The repository root, also from inside a queued `dvc exp` run's temporary copy."""
    path = (start or Path.cwd()).resolve()
    parts = path.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 4] == (".dvc", "tmp", "exps", parts[i + 3]) and i:
            return Path(*parts[:i])
    return path


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, else a SQLite store at the project root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def _writable_folder(path: Path) -> str | None:
    """Why SQLite or MLflow could not write `path` (created with its parents if missing), or None."""
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK):
        return f"{existing} is not writable" + ("" if existing == path else f" (creating {path})")
    return None


def unreachable(uri: str, timeout: float = CHECK_TIMEOUT) -> str | None:
    """Why the tracking store at `uri` cannot be used right now, or None when it looks usable.

    Cheap on purpose: http(s) servers must answer GET /health, SQL servers accept a TCP connection, and a
    SQLite file or a local folder must be writable. Other schemes are left to MLflow.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0]
    if scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
                return None
        except urllib.error.HTTPError as err:  # it answered: only a server error means it cannot work
            return f"GET /health answered HTTP {err.code}" if err.code >= 500 else None
        except (urllib.error.URLError, OSError) as err:
            return f"no answer to GET /health ({getattr(err, 'reason', err)})"
    if scheme == "sqlite":
        database = _sqlite_path(uri)
        if database is None:
            return None
        if database.exists() and not os.access(database, os.W_OK):
            return f"{database} is not writable"
        return _writable_folder(database.parent)  # SQLite writes its journal beside the database
    if scheme in DB_PORTS and parts.hostname:
        try:
            with socket.create_connection((parts.hostname, parts.port or DB_PORTS[scheme]), timeout=timeout):
                return None
        except OSError as err:
            return f"no TCP connection ({err})"
    if scheme in ("", "file"):
        return _writable_folder(Path(parts.path if scheme else uri))
    return None


def git_commit() -> str:
    """HEAD's commit hash, or 'unknown' outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def tune_trial() -> dict:
    """The tuning trial this process runs for (see TUNE_ENV), or {} outside `convpipe tune`."""
    raw = os.environ.get(TUNE_ENV)
    return json.loads(raw) if raw else {}


def pipeline_key(params: Params) -> str:
    """Identifies one pipeline execution: the commit plus a hash of all params (and the tuning trial, if any)."""
    trial = tune_trial()
    suffix = f"-{trial['study']}-{trial['trial']}" if trial else ""
    return f"{git_commit()[:12]}-{params.digest()}{suffix}"


def _trial_tags(trial: dict) -> dict[str, str]:
    """Tags grouping a trial's pipeline run under its study; nested under the study's own run when there is one."""
    if not trial:
        return {}
    tags = {STUDY_TAG: trial["study"], "convpipe.tune.trial": str(trial["trial"])}
    tags["convpipe.tune.experiment"] = trial["experiment"]
    if trial.get("study_run"):
        tags["mlflow.parentRunId"] = trial["study_run"]
    return tags


def _parent_run_id(client, experiment_id: str, params: Params) -> str:
    key = pipeline_key(params)
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PIPELINE_TAG}` = '{key}'",
        max_results=1,
        order_by=["attributes.start_time ASC"],
    )
    if found:
        return found[0].info.run_id
    trial = tune_trial()
    run = client.create_run(
        experiment_id,
        run_name=f"trial {trial['experiment']}" if trial else f"pipeline {key}",
        tags={PIPELINE_TAG: key, "mlflow.source.git.commit": git_commit(), **_trial_tags(trial)},
    )
    from mlflow.entities import Param

    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.flat().items()])
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI; None for other URIs and in-memory databases."""
    if not uri.startswith("sqlite:"):
        return None
    path = uri.partition("?")[0].removeprefix("sqlite:").removeprefix("//").removeprefix("/")
    return None if path in ("", ":memory:") else Path(path)


@contextmanager
def _first_use_lock(uri: str) -> Iterator[None]:
    """For a SQLite store, an exclusive lock on its folder while held; elsewhere nothing.

    MLflow creates and migrates a SQLite store's tables on first use, and two processes doing it at
    once (parallel `dvc exp` runs on a fresh mlflow.db) fail; the parent run's lookup-or-create must
    not race either. Later writes are safe: MLflow sets SQLite's busy_timeout.
    """
    database = _sqlite_path(uri)
    if database is None:
        yield
        return
    import fcntl

    database.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(database.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


class StageRun:
    """What a stage logs to its MLflow run; every method does nothing when the stage runs untracked."""

    def __init__(self, run=None):
        self.run = run  # the active mlflow.ActiveRun, or None when untracked

    @property
    def tracked(self) -> bool:
        """Whether anything logged here reaches MLflow."""
        return self.run is not None

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Numeric values only; anything else in `metrics` (names, nested reports) is left out."""
        if self.run:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if _is_number(v)}, step=step)

    def log_params(self, params: dict[str, object]) -> None:
        """Extra params of the stage's run, such as the values it resolved from "auto" (resolved.<section>.<key>)."""
        if self.run:
            import mlflow

            mlflow.log_params({k: shorten(str(v), 6000) for k, v in params.items()})

    def log_artifact(self, path: Path | str, folder: str | None = None) -> None:
        """One file, under `folder` of the run's artifacts."""
        if self.run:
            import mlflow

            mlflow.log_artifact(str(path), folder)

    def log_artifacts(self, path: Path | str, folder: str | None = None) -> None:
        """A folder's files, under `folder` of the run's artifacts."""
        if self.run:
            import mlflow

            mlflow.log_artifacts(str(path), folder)

    def log_text(self, text: str, name: str) -> None:
        """`text` as the artifact file `name`."""
        if self.run:
            import mlflow

            mlflow.log_text(text, name)

    def set_tags(self, tags: dict[str, object]) -> None:
        """Tags of the stage's run; values longer than MLflow's 5,000-character limit are shortened."""
        if self.run:
            import mlflow

            mlflow.set_tags({k: shorten(str(v), 5000) for k, v in tags.items()})

    def log_to_parent(self, metrics: dict[str, float]) -> None:
        """Copy headline metrics onto the parent run, so executions compare side by side."""
        if self.run:
            import mlflow
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            mlflow.MlflowClient().log_batch(
                self.run.data.tags["mlflow.parentRunId"],
                metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            )

    def keras_callbacks(self) -> list:
        """Callbacks logging each epoch's metrics to this run, synchronously (none when untracked).

        Not mlflow.tensorflow.MlflowCallback: MLflow wraps its methods to swallow exceptions and it logs
        asynchronously, so a dead server only left warnings while training went on. Here the failure stops
        training at once, and the next run resumes from the last epoch (see model.training.fit).
        """
        if not self.run:
            return []
        import mlflow
        import tensorflow as tf

        class EpochMetrics(tf.keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if logs:
                    mlflow.log_metrics({key: float(value) for key, value in logs.items()}, step=epoch, synchronous=True)

        return [EpochMetrics()]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _tracked(name: str, params: Params, uri: str) -> bool:
    """Whether `name` logs to the store at `uri`: unreachable, raise TrackingUnavailable (tracking.required)
    or say "tracking skipped" on stderr."""
    for key, value in HTTP_SETTINGS.items():
        os.environ.setdefault(key, value)
    problem = unreachable(uri)
    if problem and params.tracking.required:
        raise TrackingUnavailable(
            f"MLflow at {redact(uri)} unreachable: {problem} "
            "(set tracking.required: false in params.yaml to run without tracking)"
        )
    if problem:
        print(f"{name}: tracking skipped: {redact(uri)} unreachable: {problem}", file=sys.stderr)
    return problem is None


@contextmanager
def _failures_named(uri: str) -> Iterator[None]:
    """MLflow's transport and server failures inside, as TrackingUnavailable naming the store."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (MlflowException, requests.RequestException) as err:
        # MLflow reports transport failures and server-side (5xx) errors as INTERNAL_ERROR; other codes
        # (a bad parameter, a missing run) are bugs here and keep their traceback.
        if getattr(err, "error_code", "INTERNAL_ERROR") != "INTERNAL_ERROR":
            raise
        raise TrackingUnavailable(
            f"MLflow at {redact(uri)} (tracking server or its artifact store) failed: "
            f"{_first_failure(err).replace(uri, redact(uri))}"
        ) from None


@contextmanager
def stage_run(stage: str, params: Params) -> Iterator[StageRun]:
    """An MLflow run for `stage`, nested under this execution's parent run, with all params logged.

    The store is checked first: unreachable, this raises TrackingUnavailable naming the URI, or with
    tracking.required false says "tracking skipped" on stderr and yields a StageRun that logs nothing.
    When the server or its artifact store fails during the run, raises TrackingUnavailable (one readable
    line from the stage) instead of MLflow's traceback.
    """
    uri = tracking_uri()
    if not _tracked(stage, params, uri):
        yield StageRun()
        return

    import mlflow

    with _failures_named(uri):
        mlflow.set_tracking_uri(uri)
        with _first_use_lock(uri):
            experiment = mlflow.set_experiment(params.tracking.experiment)
            parent_id = _parent_run_id(mlflow.MlflowClient(), experiment.experiment_id, params)
        tags = {"convpipe.stage": stage, PIPELINE_TAG: pipeline_key(params), "mlflow.source.git.commit": git_commit()}
        with mlflow.start_run(run_name=stage, parent_run_id=parent_id, tags=tags) as run:
            mlflow.log_params(params.flat())
            mlflow.log_metric("startup_s", time.perf_counter() - convpipe.STARTED)
            yield StageRun(run)
            mlflow.log_metrics(process_costs())
            mlflow.set_tag("convpipe.imported_tensorflow", "tensorflow" in sys.modules)


@contextmanager
def study_run(study: str, params: Params) -> Iterator[StageRun]:
    """The MLflow run of a tuning study (reopened when the study is resumed), for its summary and plot; the
    trials' pipeline runs nest under it. Checked and failing like stage_run."""
    uri = tracking_uri()
    if not _tracked("tune", params, uri):
        yield StageRun()
        return

    import mlflow

    with _failures_named(uri):
        mlflow.set_tracking_uri(uri)
        with _first_use_lock(uri):
            experiment = mlflow.set_experiment(params.tracking.experiment)
            found = mlflow.MlflowClient().search_runs(
                [experiment.experiment_id],
                filter_string=f"tags.`{STUDY_TAG}` = '{study}' and tags.`convpipe.tune.role` = 'study'",
                max_results=1,
            )
        tags = {STUDY_TAG: study, "convpipe.tune.role": "study", "mlflow.source.git.commit": git_commit()}
        opened = (
            mlflow.start_run(run_id=found[0].info.run_id)
            if found
            else mlflow.start_run(run_name=f"tune {study}", tags=tags)
        )
        with opened as run:
            yield StageRun(run)


def _first_failure(err: Exception) -> str:
    """The first line of the earliest MLflow error in the chain, at most 300 characters."""
    # Closing the run after a failed upload fails too, raising a second error while the first is handled:
    # the earliest MLflow error in the chain is the one that explains.
    from mlflow.exceptions import MlflowException

    first = err
    while (err := err.__context__) is not None:
        if isinstance(err, MlflowException):
            first = err
    return first_line(str(getattr(first, "message", "") or first), 300, type(first).__name__)


def process_costs() -> dict[str, float]:
    """This process's wall time since convpipe was imported, CPU time and peak memory."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "stage_wall_s": time.perf_counter() - convpipe.STARTED,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }  # ru_maxrss is in KiB on Linux
