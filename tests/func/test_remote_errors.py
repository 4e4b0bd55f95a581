"""`convpipe push`, `pull` and `remote` against a real S3 server (moto) on loopback, healthy and failing.

The project is a few `dvc add`ed files, not a pipeline: what is tested is the transfer and its messages.
"""
import hashlib
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests import servers
from tests.project import ROOT, clean_env, run

BUCKET = "convpipe"


@pytest.fixture(scope="module")
def s3():
    """A permissive S3 server with an empty bucket, and one that refuses every key; yields both endpoints."""
    with servers.moto_server() as url, servers.moto_server(check_credentials=True) as strict:
        servers.create_bucket(url, BUCKET)
        yield url, strict


@pytest.fixture(scope="module")
def env():
    # The code under test, not whichever convpipe is installed.
    return clean_env(PYTHONPATH=str(ROOT), **servers.S3_ENV)


@pytest.fixture(scope="module")
def template(tmp_path_factory, s3, env):
    """A git + DVC project tracking data/ (three files), with a default remote 'storage' on the healthy server,
    'unreachable' at a port nothing listens on and 'refusing' on the strict server."""
    url, strict = s3
    repo = tmp_path_factory.mktemp("template") / "project"
    (repo / "data").mkdir(parents=True)
    for i in range(3):
        (repo / "data" / f"{i}.txt").write_text(f"file {i}\n")
    run("git", "init", "-q", cwd=repo)
    for args in (["init", "-q"], ["add", "-q", "data"],
                 ["remote", "add", "-d", "storage", f"s3://{BUCKET}/dvc"],
                 ["remote", "modify", "storage", "endpointurl", url],
                 ["remote", "add", "unreachable", f"s3://{BUCKET}/dvc"],
                 ["remote", "modify", "unreachable", "endpointurl", f"http://127.0.0.1:{servers.free_port()}"],
                 ["remote", "add", "refusing", f"s3://{BUCKET}/dvc"],
                 ["remote", "modify", "refusing", "endpointurl", strict]):
        run("dvc", *args, cwd=repo, env=env)
    return repo


@pytest.fixture
def project(template, tmp_path):
    """A copy of the template project, one per test (DVC's commands are too slow to set up each)."""
    return Path(shutil.copytree(template, tmp_path / "project", symlinks=True))


def convpipe(*args: str, cwd: Path, env: dict):
    """`python -m convpipe ARGS` in `cwd`, without raising on failure."""
    return run(sys.executable, "-m", "convpipe", *args, cwd=cwd, env=env, check=False)


def snapshot(repo: Path) -> dict[str, str]:
    """Every file of the workspace's data and of the DVC cache, with its MD5."""
    return {str(path.relative_to(repo)): hashlib.md5(path.read_bytes()).hexdigest()
            for folder in ("data", ".dvc/cache") for path in sorted((repo / folder).rglob("*")) if path.is_file()}


def remote_endpoint(repo: Path, name: str, env: dict) -> str:
    """The endpointurl configured for remote `name`."""
    return run("dvc", "config", f"remote.{name}.endpointurl", cwd=repo, env=env).stdout.strip()


def test_a_healthy_default_remote_pushes_and_pulls_through_convpipe(project, env, s3):
    check = convpipe("remote", cwd=project, env=env)
    assert check.stdout.strip() == f"remote 'storage' (s3://{BUCKET}/dvc, endpoint {s3[0]}): ok"
    before = snapshot(project)
    push = convpipe("push", cwd=project, env=env)
    assert push.returncode == 0, push.stdout + push.stderr
    assert len(servers.list_keys(s3[0], BUCKET, "dvc/files/md5/")) == 4  # three files and the folder's .dir
    run("rm", "-rf", "data", ".dvc/cache", cwd=project)
    pull = convpipe("pull", cwd=project, env=env)
    assert pull.returncode == 0, pull.stdout + pull.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize("args, problem", [
    (["-r", "unreachable"], "{label}: cannot connect: Could not connect to the endpoint URL: "),
    (["-r", "refusing"], "{label}: credentials refused (403 InvalidAccessKeyId: "),
    (["-r", "nope"], "remote 'nope': not configured (configured: storage, unreachable, refusing) — "),
    ([], "no default DVC remote (configured: storage, unreachable, refusing) — name one with -r"),
], ids=["unreachable", "refusing", "unknown", "no-default"])
@pytest.mark.parametrize("command", ["push", "pull"])
def test_a_failing_remote_is_named_in_one_line_and_nothing_local_changes(project, env, command, args, problem):
    if not args:
        run("dvc", "remote", "default", "--unset", cwd=project, env=env)
    name = args[-1] if args else ""
    if name in ("unreachable", "refusing"):
        label = f"remote '{name}' (s3://{BUCKET}/dvc, endpoint {remote_endpoint(project, name, env)})"
    else:
        label = ""
    before = snapshot(project)
    started = time.perf_counter()
    result = convpipe(command, *args, cwd=project, env=env)
    assert time.perf_counter() - started < 15  # the check's own time is bounded; this is mostly start-up
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"convpipe {command}: error: " + problem.format(label=label)), result.stderr
    assert snapshot(project) == before


def test_a_dvc_failure_after_the_check_still_names_the_remote(project, env, s3):
    result = convpipe("push", "missing.dvc", cwd=project, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"convpipe push: error: dvc push with remote 'storage' (s3://{BUCKET}/dvc, endpoint {s3[0]}) "
        "failed (exit code 1); nothing local was removed, and running it again transfers only what is missing")
