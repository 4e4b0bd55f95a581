"""`convpipe push`, `pull` and `remote` against a real S3 server (moto) on loopback, healthy and failing.

The project is a few `dvc add`ed files and a one-line `cp` stage, not convpipe's pipeline: what is tested is
the transfer and its messages.
"""

import hashlib
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests import servers
from tests.project import ROOT, clean_env, run

pytestmark = pytest.mark.slow  # starts an S3 server; ops/remote's logic has unit tests

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
    """A git + DVC project tracking data/ (three files) and a stage copying it to copy/, with remotes 'storage'
    (the default, on the healthy server), 'unreachable' (a port nothing listens on) and 'refusing' (the strict one)."""
    url, strict = s3
    repo = tmp_path_factory.mktemp("template") / "project"
    (repo / "data").mkdir(parents=True)
    for i in range(3):
        (repo / "data" / f"{i}.txt").write_text(f"file {i}\n")
    run("git", "init", "-q", cwd=repo)
    for args in (
        ["init", "-q"],
        # As convpipe's own .dvc/config: no `dvc daemon analytics` process started after every dvc command.
        ["config", "core.analytics", "false"],
        ["add", "-q", "data"],
        ["stage", "add", "-n", "copy", "-d", "data", "-o", "copy", "cp -r data copy"],
        ["repro", "-q"],
        ["remote", "add", "-d", "storage", f"s3://{BUCKET}/dvc"],
        ["remote", "modify", "storage", "endpointurl", url],
        ["remote", "add", "unreachable", f"s3://{BUCKET}/dvc"],
        ["remote", "modify", "unreachable", "endpointurl", f"http://127.0.0.1:{servers.free_port()}"],
        ["remote", "add", "refusing", f"s3://{BUCKET}/dvc"],
        ["remote", "modify", "refusing", "endpointurl", strict],
    ):
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
    """Every file of the workspace's data and output and of the DVC cache, with its MD5."""
    return {
        str(path.relative_to(repo)): hashlib.md5(path.read_bytes()).hexdigest()
        for folder in ("data", "copy", ".dvc/cache")
        for path in sorted((repo / folder).rglob("*"))
        if path.is_file()
    }


def remote_endpoint(repo: Path, name: str, env: dict) -> str:
    """The endpointurl configured for remote `name`."""
    return run("dvc", "config", f"remote.{name}.endpointurl", cwd=repo, env=env).stdout.strip()


def test_a_healthy_default_remote_pushes_and_pulls_through_convpipe(project, env, s3):
    check = convpipe("remote", cwd=project, env=env)
    assert check.stdout.strip() == f"remote 'storage' (s3://{BUCKET}/dvc, endpoint {s3[0]}): ok"
    before = snapshot(project)
    push = convpipe("push", cwd=project, env=env)
    assert push.returncode == 0, push.stdout + push.stderr
    # Three files and the folder's .dir (copy/ holds the same), and the stage's run record: --run-cache.
    assert len(servers.list_keys(s3[0], BUCKET, "dvc/files/md5/")) == 4
    assert servers.list_keys(s3[0], BUCKET, "dvc/runs/")
    run("rm", "-rf", "data", "copy", ".dvc/cache", cwd=project)
    pull = convpipe("pull", cwd=project, env=env)
    assert pull.returncode == 0, pull.stdout + pull.stderr
    # Every output and its cache entry is back; run records come only with `dvc pull --run-cache`.
    assert snapshot(project) == {path: md5 for path, md5 in before.items() if not path.startswith(".dvc/cache/runs/")}


FAILURES = {  # case: the remote named on the command line, and how the one line starts after "error: "
    "unreachable": (
        "unreachable",
        "remote 'unreachable' (s3://convpipe/dvc, endpoint {endpoint}): cannot connect: "
        "Could not connect to the endpoint URL: ",
    ),
    "refusing": (
        "refusing",
        "remote 'refusing' (s3://convpipe/dvc, endpoint {endpoint}): credentials refused (403 InvalidAccessKeyId: ",
    ),
    "unknown": ("nope", "remote 'nope': not configured (configured: storage, unreachable, refusing) — "),
    "no-default": (None, "no default DVC remote (configured: storage, unreachable, refusing) — name one with -r"),
    "none": (None, "no DVC remote configured — add one with `dvc remote add -d storage "),
}


@pytest.mark.parametrize("case", FAILURES)
@pytest.mark.parametrize("command", ["push", "pull", "remote"])
def test_a_failing_remote_is_named_in_one_line_and_nothing_local_changes(project, env, command, case):
    name, problem = FAILURES[case]
    if case == "no-default":
        run("dvc", "remote", "default", "--unset", cwd=project, env=env)
    if case == "none":
        (project / ".dvc" / "config").write_text("")
    if "{endpoint}" in problem:
        problem = problem.format(endpoint=remote_endpoint(project, name, env))
    args = [] if name is None else [name] if command == "remote" else ["-r", name]
    before = snapshot(project)
    started = time.perf_counter()
    result = convpipe(command, *args, cwd=project, env=env)
    assert time.perf_counter() - started < 15  # the check's own time is bounded; this is mostly start-up
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"convpipe {command}: error: {problem}"), result.stderr
    assert snapshot(project) == before


def test_a_dvc_failure_after_the_check_still_names_the_remote(project, env, s3):
    result = convpipe("push", "missing.dvc", cwd=project, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"convpipe push: error: dvc push with remote 'storage' (s3://{BUCKET}/dvc, endpoint {s3[0]}) "
        "failed (exit code 1); running it again transfers only what is still missing"
    )


def test_a_stage_pulling_from_a_down_remote_fails_before_running_and_convpipe_remote_names_it(project, env):
    run("dvc", "remote", "default", "unreachable", cwd=project, env=env)
    shutil.rmtree(project / "copy")
    before = snapshot(project)
    # DVC's own message names the endpoint's URL, not the remote; one attempt, as the retries change nothing.
    repro = run("dvc", "repro", "--pull", cwd=project, env={**env, "AWS_MAX_ATTEMPTS": "1"}, check=False)
    assert repro.returncode != 0 and "unexpected error - Could not connect to the endpoint URL" in repro.stderr, (
        repro.stderr
    )
    assert "Running stage" not in repro.stdout and snapshot(project) == before
    check = convpipe("remote", cwd=project, env=env)
    assert check.returncode == 2
    assert check.stderr.startswith(
        "convpipe remote: error: remote 'unreachable' (s3://convpipe/dvc, endpoint http://127.0.0.1:"
    ), check.stderr
