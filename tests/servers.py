"""Real servers on loopback for tests: an S3-compatible object store (moto), a PostgreSQL cluster and an
MLflow tracking server.

Each is a context manager that starts the process on a free port, waits until it answers, yields its
address and always terminates it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# moto accepts any credentials unless it is told to check them; these are what the tests hand to clients.
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    # Only a readiness wait for the server we started: polls until it answers, dies, or the timeout passes.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode} before answering:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered, if only to refuse
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def _process(args: list[str], health_url: str, env: dict | None) -> Iterator[subprocess.Popen]:
    # The server's output goes to a log file, shown when it fails to come up.
    descriptor, name = tempfile.mkstemp(prefix="server-", suffix=".log")
    os.close(descriptor)
    log = Path(name)
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            args, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
        )
    try:
        _wait_until_up(health_url, process, log)
        yield process
    finally:
        # The server's own session: its workers (uvicorn's, for MLflow) stop with it.
        _stop(process)
        log.unlink(missing_ok=True)


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 5) -> None:
    """Signal the process group `process` leads; SIGKILL what is left of it after `timeout` s or once it exits."""
    for signal_number, wait in ((sig, timeout), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, signal_number)
            process.wait(wait)
        except ProcessLookupError:  # the whole group is gone already (kill() below, say)
            process.wait()
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def moto_server(check_credentials: bool = False) -> Iterator[str]:
    """An S3-compatible server (moto) on a free loopback port; yields its endpoint URL.

    With `check_credentials`, every request must be signed by a key moto knows (none, here), so any
    credentials are wrong: the way to see how clients report a refused key.
    """
    port = free_port()
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if check_credentials else {}
    url = f"http://127.0.0.1:{port}"
    with _process([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], f"{url}/moto-api/", env):
        yield url


def create_bucket(endpoint_url: str, bucket: str) -> None:
    """Create `bucket` on the S3 server at `endpoint_url`."""
    import boto3

    boto3.client("s3", endpoint_url=endpoint_url, **_boto_credentials()).create_bucket(Bucket=bucket)


def list_keys(endpoint_url: str, bucket: str, prefix: str = "") -> dict[str, int]:
    """Every key under `prefix` in `bucket`, with its size in bytes."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint_url, **_boto_credentials())
    keys = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    return keys


def _boto_credentials() -> dict:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


_MLFLOW_SERVERS: dict[str, subprocess.Popen] = {}  # URI → the running `mlflow server`, for kill()


@contextmanager
def mlflow_server(
    backend_store_uri: str, artifacts_destination: str | Path, env: dict | None = None, port: int | None = None
) -> Iterator[str]:
    """`mlflow server` on a free loopback port (or `port`, to restart one at the same URI) with proxied
    artifact access; yields its http URI.

    `env` is added to the server's environment (e.g. MLFLOW_S3_ENDPOINT_URL and AWS credentials when
    `artifacts_destination` is on S3); clients then need only the URI.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts_destination),
    ]
    # The job runner (GenAI jobs, a dozen huey processes) doubles start-up time and is of no use here.
    with _process(args, f"{url}/health", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}) as process:
        _MLFLOW_SERVERS[url] = process
        try:
            yield url
        finally:
            _MLFLOW_SERVERS.pop(url, None)


def kill(uri: str) -> None:
    """SIGKILL the `mlflow server` at `uri` and its workers at once: a crash, not a shutdown."""
    process = _MLFLOW_SERVERS[uri]
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _postgres_bin() -> Path | None:
    """The folder holding initdb and postgres: from PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def _as_user() -> tuple[list[str], str | None]:
    """A command prefix running as an unprivileged user, and that user: PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], name
    pytest.skip("PostgreSQL refuses to run as root and there is neither a postgres nor a nobody user")


@contextmanager
def postgres(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free loopback port; yields a postgresql+psycopg2:// URI of an empty database.

    As root the cluster runs as the postgres (or nobody) user, in a folder of its own under the system temp
    folder (pytest's tmp_path is private to root); otherwise under `tmp_path`. Skips when PostgreSQL is missing.
    """
    import psycopg2

    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL not found (no initdb on PATH or in /usr/lib/postgresql/*/bin): apt-get install postgresql"
        )
    prefix, user = _as_user()
    base = Path(tempfile.mkdtemp(prefix="convpipe-pg-", dir=None if user else tmp_path))
    if user:
        shutil.chown(base, user)
    data, log, port = base / "data", base / "postgres.log", free_port()

    def accepts() -> bool:
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user="convpipe", dbname="postgres").close()
            return True
        except psycopg2.OperationalError:
            return False

    process = None
    try:
        subprocess.run(
            prefix
            + [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "convpipe",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        with open(log, "w") as handle:
            if user:
                shutil.chown(log, user)
            # Durability is pointless for a test database; these settings make it several times faster.
            process = subprocess.Popen(
                prefix
                + [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(base),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not accepts():  # only a readiness wait for the server we started
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start (exit code {process.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        connection = psycopg2.connect(host="127.0.0.1", port=port, user="convpipe", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE mlflow")
        connection.close()
        # Named driver: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which convpipe does not depend on.
        yield f"postgresql+psycopg2://convpipe@127.0.0.1:{port}/mlflow"
    finally:
        if process is not None:
            _stop(process, signal.SIGINT, timeout=20)  # SIGINT: PostgreSQL's fast shutdown, not waiting for clients
        shutil.rmtree(base, ignore_errors=True)
