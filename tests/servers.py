"""Real servers for integration tests: a throw-away PostgreSQL cluster and an `mlflow server` in front of it."""
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _wait(ready, process: subprocess.Popen, what: str, log: Path, timeout: float = 90) -> None:
    """Poll `ready()` until it is true; fail with the log's tail when `process` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not start (exit code {process.poll()}):\n{tail}")
        time.sleep(0.3)


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal the process group `process` leads; SIGKILL what is left of it after 20 s or once it exits."""
    for signal_number, wait in ((sig, 20), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, signal_number)
            process.wait(wait)
        except ProcessLookupError:  # the whole group is gone already
            process.wait()
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def postgres(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free loopback port, yielding a postgresql+psycopg2:// URI of an empty database.

    As root the cluster runs as the postgres (or nobody) user, in a folder of its own under the system temp
    folder (pytest's tmp_path is private to root); otherwise under `tmp_path`. Skips when PostgreSQL is missing.
    """
    import psycopg2

    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL not found (no initdb on PATH or in /usr/lib/postgresql/*/bin): apt-get install postgresql")
    prefix, user = _as_user()
    base = Path(tempfile.mkdtemp(prefix="convpipe-pg-", dir=None if user else tmp_path))
    if user:
        shutil.chown(base, user)
    data, log, port = base / "data", base / "postgres.log", free_port()
    process = None
    try:
        subprocess.run(prefix + [str(bin_dir / "initdb"), "-D", str(data), "-U", "convpipe", "--auth=trust",
                                 "--no-sync", "-E", "UTF8", "--locale=C"],
                       check=True, capture_output=True, text=True)
        # Durability is pointless for a test database; these settings make it several times faster.
        with open(log, "w") as handle:
            if user:
                shutil.chown(log, user)
            process = subprocess.Popen(
                prefix + [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                          "-k", str(base), "-c", "fsync=off", "-c", "synchronous_commit=off",
                          "-c", "full_page_writes=off"],
                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)

        def accepts() -> bool:
            try:
                psycopg2.connect(host="127.0.0.1", port=port, user="convpipe", dbname="postgres").close()
                return True
            except psycopg2.OperationalError:
                return False

        _wait(accepts, process, "postgres", log)
        connection = psycopg2.connect(host="127.0.0.1", port=port, user="convpipe", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE mlflow")
        connection.close()
        # Named driver: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which convpipe does not depend on.
        yield f"postgresql+psycopg2://convpipe@127.0.0.1:{port}/mlflow"
    finally:
        if process is not None:
            _stop(process, signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown, not waiting for clients
        shutil.rmtree(base, ignore_errors=True)


_SERVERS: dict[str, subprocess.Popen] = {}  # URI → the running `mlflow server`, for kill()


def kill(uri: str) -> None:
    """SIGKILL the `mlflow server` at `uri` and its workers at once: a crash, not a shutdown."""
    process = _SERVERS[uri]
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def mlflow_server(backend_store_uri: str, artifacts_destination: Path | str, env: dict | None = None,
                  port: int | None = None) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1 (a free port unless `port`) with artifact serving; yields its http URI.

    Returns once /health answers; the server (all its workers) is always terminated on exit. `env` replaces
    the environment the server runs in.
    """
    port = port or free_port()
    uri = f"http://127.0.0.1:{port}"
    descriptor, name = tempfile.mkstemp(prefix="mlflow-server-", suffix=".log")
    os.close(descriptor)
    log = Path(name)
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--backend-store-uri", backend_store_uri,
               "--serve-artifacts", "--artifacts-destination", str(artifacts_destination)]
    server_env = {k: v for k, v in (env if env is not None else os.environ).items() if k != "MLFLOW_TRACKING_URI"}
    # The job runner (GenAI jobs, a dozen huey processes) doubles start-up time and is of no use to convpipe.
    server_env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=server_env,
                                   start_new_session=True)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        _wait(healthy, process, f"mlflow server on {uri}", log, timeout=180)
        _SERVERS[uri] = process
        yield uri
    finally:
        _SERVERS.pop(uri, None)
        _stop(process)
        log.unlink(missing_ok=True)
