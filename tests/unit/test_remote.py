"""The DVC remote check's messages, built from the exceptions botocore, s3fs and the OS raise."""

import os
import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from convpipe.ops.remote import _defaults, _within, describe, explain, no_remote


def raised(err: BaseException, cause: BaseException | None = None) -> BaseException:
    """`err` as it arrives after `raise err from cause`."""
    try:
        raise err from cause
    except BaseException as caught:
        return caught


def test_describe_names_the_remote_url_and_endpoint_without_secrets():
    assert (
        describe("storage", "s3://convpipe/dvc", "http://127.0.0.1:9000")
        == "remote 'storage' (s3://convpipe/dvc, endpoint http://127.0.0.1:9000)"
    )
    assert describe("shared", "/mnt/shared/dvc") == "remote 'shared' (/mnt/shared/dvc)"
    assert describe("web", "https://user:secret@host/dvc") == "remote 'web' (https://***@host/dvc)"


def test_a_refused_key_says_credentials_with_status_code_and_an_s3_hint():
    response = {
        "Error": {"Code": "SignatureDoesNotMatch", "Message": "bad signature"},
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    err = raised(
        PermissionError("The request signature we calculated does not match"), ClientError(response, "ListObjectsV2")
    )
    assert explain(err, "storage", "s3") == (
        "credentials refused (403 SignatureDoesNotMatch: The request signature we calculated does not match) — "
        "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or `dvc remote modify --local storage access_key_id …`"
    )


def test_a_refusal_from_another_kind_of_remote_gets_a_generic_hint():
    assert (
        explain(PermissionError("Forbidden"), "box", "ssh")
        == "credentials refused (403 Forbidden: Forbidden) — check its credentials (`dvc remote modify --local box …`)"
    )


def test_no_credentials_at_all():
    assert explain(raised(NoCredentialsError()), "storage", "s3").startswith("no credentials found — check AWS_")


@pytest.mark.parametrize(
    "err",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1/convpipe"),  # botocore's: no OSError
        raised(OSError("session closed"), ConnectionRefusedError(111, "Connect call failed")),
        TimeoutError("no answer within 5 s"),
    ],
)
def test_connection_failures_ask_whether_the_endpoint_is_up(err):
    message = explain(err, "storage", "s3")
    assert message.startswith("cannot connect: ") and message.endswith(" — is the endpoint up?"), message
    assert str(err).splitlines()[0] in message


def test_a_missing_bucket_says_how_to_fix_the_url():
    assert (
        explain(FileNotFoundError("The specified bucket does not exist"), "storage", "s3")
        == "The specified bucket does not exist — create the bucket or folder, or fix the URL "
        "(`dvc remote modify storage url …`)"
    )


def test_anything_else_keeps_its_type_and_first_line():
    assert explain(ValueError("bad region\nmore detail"), "storage", "s3") == "ValueError: bad region"


def test_without_a_default_remote_the_message_lists_those_configured():
    assert no_remote(["storage", "spare"]).startswith("no default DVC remote (configured: storage, spare)")
    assert no_remote([]).startswith("no DVC remote configured — add one with `dvc remote add -d storage")


def test_the_check_gives_up_after_its_timeout():
    started = time.perf_counter()
    problem = _within(0.2, lambda: time.sleep(5))
    assert isinstance(problem, TimeoutError) and str(problem) == "no answer within 0.2 s"
    assert time.perf_counter() - started < 1


def test_the_check_returns_what_the_call_raised_or_none():
    assert _within(1, lambda: None) is None
    assert isinstance(_within(1, lambda: 1 / 0), ZeroDivisionError)


def test_the_check_sets_its_environment_only_where_unset_and_only_while_it_runs(monkeypatch):
    monkeypatch.delenv("CONVPIPE_A", raising=False)
    monkeypatch.setenv("CONVPIPE_B", "user's")
    with _defaults({"CONVPIPE_A": "1", "CONVPIPE_B": "1"}):
        assert (os.environ["CONVPIPE_A"], os.environ["CONVPIPE_B"]) == ("1", "user's")
    assert "CONVPIPE_A" not in os.environ and os.environ["CONVPIPE_B"] == "user's"
