"""`convpipe predict`: help text and the errors a user can make before any image is read."""

import json

import pytest

from convpipe.cli import main
from convpipe.serve.output import JsonList


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["predict", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in ("IMAGE_OR_FOLDER", "--model", "-k", "--json", "--decode-timeout", "--decode-memory-mb"):
        assert option in text


def test_missing_model_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--model", str(tmp_path / "nope.tflite")]) == 2
    missing = tmp_path / "nope.tflite"
    assert capsys.readouterr().err.strip() == f"convpipe predict: error: {missing}: no such model artifact"


def test_unknown_artifact_type_is_refused(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"x")
    assert main(["predict", str(tmp_path), "--model", str(tmp_path / "model.pt")]) == 2
    assert "not a model artifact" in capsys.readouterr().err


def test_k_must_be_positive(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--model", str(tmp_path), "-k", "0"]) == 2
    assert "-k must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--decode-timeout", "0", "--decode-timeout must be a positive number of seconds, got 0"),
        ("--decode-timeout", "nan", "--decode-timeout must be a positive number of seconds, got nan"),
        ("--decode-memory-mb", "-5", "--decode-memory-mb must be at least 1 (MiB), got -5"),
    ],
)
def test_decode_limits_must_be_positive(tmp_path, capsys, option, value, message):
    for command in (["predict", "--model", str(tmp_path)], ["similar", "--index", str(tmp_path)]):
        assert main([*command, str(tmp_path), option, value]) == 2
        assert capsys.readouterr().err == f"convpipe {command[0]}: error: {message}\n"


@pytest.mark.parametrize("items", [[], [{"path": "a"}], [{"path": "a", "top_k": [{"label": "x"}]}, {"path": "b"}]])
def test_the_streamed_json_list_is_what_json_dumps_prints(capsys, items):
    listing = JsonList()
    for item in items:
        listing.add(item)
    listing.close()
    assert capsys.readouterr().out == json.dumps(items, indent=2) + "\n"
