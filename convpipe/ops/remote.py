"""DVC remotes: a pre-flight check whose failures name the remote, and `dvc push`/`dvc pull` behind it.

DVC 3.67's own messages for a remote that is down or refuses the key (`Could not connect to the endpoint
URL: …`, `403 Forbidden`) do not say which remote failed or what to try; these do.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from convpipe.core.text import first_line
from convpipe.core.urls import redact

CHECK_TIMEOUT = 5.0  # seconds the pre-flight check waits for the remote to answer one listing
# botocore retries a refused connection four times with back-off (about 6 s); one attempt tells the same
# at once. Set only while the check runs: `dvc push` and `dvc pull` keep their retries.
CHECK_ENV = {"AWS_MAX_ATTEMPTS": "1"}
CREDENTIAL_HINTS = {
    "s3": "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or `dvc remote modify --local {name} access_key_id …`"
}


class RemoteUnavailable(ConnectionError):
    """A DVC remote is not configured, cannot be reached, refuses the credentials, or failed a transfer."""


def describe(name: str, url: str, endpoint: str | None = None) -> str:
    """`remote 'NAME' (URL, endpoint ENDPOINT)`, with any secrets in either redacted."""
    where = redact(url) + (f", endpoint {redact(endpoint)}" if endpoint else "")
    return f"remote {name!r} ({where})"


def _chain(err: BaseException):
    """`err` and the exceptions it was raised from or while handling, outermost first."""
    while err is not None:
        yield err
        err = err.__cause__ or err.__context__


def _is(err: BaseException, class_name: str) -> bool:
    # By name, so botocore (an optional extra) need not be imported; its ConnectionError is no OSError.
    return any(cls.__name__ == class_name for cls in type(err).__mro__)


def _first_line(err: BaseException) -> str:
    return first_line(str(err), 200, type(err).__name__)


def explain(err: BaseException, name: str, scheme: str) -> str:
    """What `err`, raised while listing remote `name` (URL scheme `scheme`), means, and what to try."""
    chain = list(_chain(err))
    hint = CREDENTIAL_HINTS.get(scheme, "check its credentials (`dvc remote modify --local {name} …`)")
    if any(_is(e, "NoCredentialsError") for e in chain):
        return f"no credentials found — {hint.format(name=name)}"
    if any(isinstance(e, PermissionError) for e in chain):
        # botocore's ClientError carries the HTTP status and S3's error code (InvalidAccessKeyId, …).
        response = next((e.response for e in chain if isinstance(getattr(e, "response", None), dict)), {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 403)
        code = response.get("Error", {}).get("Code", "Forbidden")
        return f"credentials refused ({status} {code}: {_first_line(err)}) — {hint.format(name=name)}"
    if isinstance(err, FileNotFoundError):
        return f"{_first_line(err)} — create the bucket or folder, or fix the URL (`dvc remote modify {name} url …`)"
    if any(_is(e, "ConnectionError") or isinstance(e, (OSError, TimeoutError)) for e in chain):
        return f"cannot connect: {_first_line(err)} — is the endpoint up?"
    return f"{type(err).__name__}: {_first_line(err)}"


def no_remote(configured: list[str]) -> str:
    """Why no remote could be chosen, given the names of the configured ones."""
    if configured:
        return (
            f"no default DVC remote (configured: {', '.join(configured)}) — name one with -r, "
            "or set it with `dvc remote default NAME`"
        )
    return "no DVC remote configured — add one with `dvc remote add -d storage s3://BUCKET/dvc` (or a folder)"


def _probe(fs, path: str) -> None:
    """List `path` or, when nothing was pushed there yet, its nearest existing parent (the bucket, say)."""
    while True:
        try:
            fs.ls(path)
            return
        except FileNotFoundError:
            parent = fs.parent(path)
            if parent in ("", path):
                raise
            path = parent


def _within(timeout: float, call) -> BaseException | None:
    """What call() raised, TimeoutError when it took longer than `timeout` seconds, or None."""
    outcome: list[BaseException | None] = []

    def target():
        try:
            call()
            outcome.append(None)
        except BaseException as err:  # handed to the caller, who explains it
            outcome.append(err)

    # A daemon thread: a remote that never answers is left waiting, not waited for.
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else TimeoutError(f"no answer within {timeout:g} s")


@contextmanager
def _defaults(values: dict[str, str]) -> Iterator[None]:
    """Environment variables set to `values` where unset, while the block runs."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update({key: saved[key] or value for key, value in values.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check(name: str | None = None, timeout: float = CHECK_TIMEOUT) -> tuple[str, str, str]:
    """The remote's name, its description and "ok" once it answered a listing within `timeout` seconds, or
    "not checked: …" for a kind of remote DVC cannot list (http), which DVC may still push to and pull from.

    `name` None means the project's default remote. Raises RemoteUnavailable, naming the remote with its
    URL and endpoint, when none is configured, the name is unknown or the listing fails.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        repo = Repo()
    except DvcException as err:
        raise RemoteUnavailable(f"{os.getcwd()}: {err}") from None
    with repo:
        configured = repo.config["remote"]
        name = name or repo.config["core"].get("remote")
        if not name:
            raise RemoteUnavailable(no_remote(list(configured)))
        if name not in configured:
            raise RemoteUnavailable(
                f"remote {name!r}: not configured (configured: "
                f"{', '.join(configured) or 'none'}) — see `dvc remote list`"
            )
        url = configured[name]["url"]
        label = describe(name, url, configured[name].get("endpointurl"))
        try:
            remote = repo.cloud.get_remote(name)
        except DvcException as err:  # a bad setting, or the URL's scheme needs a plugin (dvc-s3, …)
            raise RemoteUnavailable(f"{label}: {err}") from None
        with _defaults(CHECK_ENV):
            problem = _within(timeout, lambda: _probe(remote.fs, remote.path))
    scheme = url.partition("://")[0]
    if isinstance(problem, NotImplementedError):  # DVC's http file system has no listing
        return name, label, f"not checked: the check cannot list {scheme or 'this kind of'} remotes; DVC goes ahead"
    if problem is not None:
        raise RemoteUnavailable(f"{label}: {explain(problem, name, scheme)}")
    return name, label, "ok"


def jobs(count: int | None) -> list[str]:
    """DVC's `-j COUNT` arguments, or none to keep its default."""
    return [] if count is None else ["-j", str(count)]


def transfer(command: str, name: str | None, args: list[str]) -> None:
    """Check the remote, then run `dvc COMMAND -r NAME ARGS`; RemoteUnavailable naming the remote if either fails."""
    name, label, verdict = check(name)
    if verdict != "ok":
        print(f"{label}: {verdict}", file=sys.stderr)
    try:
        code = subprocess.run([sys.executable, "-m", "dvc", command, "-r", name, *args]).returncode
    except KeyboardInterrupt:  # Ctrl-C stops DVC too (same process group); say how to finish, not a traceback
        code = 130
    if code:
        # The check passed, so the failure came mid-transfer: DVC's lines above say which file.
        raise RemoteUnavailable(
            f"dvc {command} with {label} failed (exit code {code}); running it again "
            "transfers only what is still missing"
        )
