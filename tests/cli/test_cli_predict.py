"""`convpipe predict`: help text and the errors a user can make before any image is read."""
import pytest

from convpipe.cli import main


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["predict", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in ("IMAGE_OR_FOLDER", "--model", "-k", "--json"):
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
