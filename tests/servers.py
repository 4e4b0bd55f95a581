"""Real servers on loopback for tests: an S3-compatible object store (moto) and an MLflow tracking server.

Each is a context manager that starts the process on a free port, waits until it answers, yields its
address and always terminates it.
"""
from __future__ import annotations

import os
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
        process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                   start_new_session=True)
    try:
        _wait_until_up(health_url, process, log)
        yield process
    finally:
        # The server's own session: its workers (uvicorn's, for MLflow) stop with it.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.unlink(missing_ok=True)


@contextmanager
def moto_server(check_credentials: bool = False) -> Iterator[str]:
    """An S3-compatible server (moto) on a free loopback port; yields its endpoint URL.

    With `check_credentials`, every request must be signed by a key moto knows (none, here), so any
    credentials are wrong: the way to see how clients report a refused key.
    """
    port = free_port()
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if check_credentials else {}
    url = f"http://127.0.0.1:{port}"
    with _process([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                  f"{url}/moto-api/", env):
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
    return {"aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
            "region_name": S3_ENV["AWS_DEFAULT_REGION"]}


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts_destination: str, env: dict | None = None) -> Iterator[str]:
    """`mlflow server` on a free loopback port with proxied artifact access; yields its http URI.

    `env` is added to the server's environment (e.g. MLFLOW_S3_ENDPOINT_URL and AWS credentials when
    `artifacts_destination` is on S3); clients then need only the URI.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", backend_store_uri, "--artifacts-destination", artifacts_destination]
    with _process(args, f"{url}/health", env):
        yield url
