"""`convpipe gate` against committed baselines in a real git repository."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from convpipe.cli import main

ROOT = Path(__file__).resolve().parents[2]


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def write_reports(repo: Path, accuracy: float, int8_accuracy: float = 0.97):
    reports = repo / "reports"
    reports.mkdir(exist_ok=True)
    metrics = {"test": {"accuracy": accuracy, "macro_f1": accuracy, "per_class": {"a": {"f1": accuracy}}}}
    (reports / "metrics.json").write_text(json.dumps(metrics))
    export = {
        "keras": {"accuracy": int8_accuracy},
        "tflite_float32": {"size_bytes": 100_000},
        "tflite_int8": {"accuracy": int8_accuracy, "size_bytes": 25_000},
        "tflite_qat_int8": {"accuracy": int8_accuracy},
        "onnx": {"agreement": 1.0},
    }
    (reports / "export.json").write_text(json.dumps(export))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    git("init", "-q", cwd=tmp_path)
    git("config", "user.email", "ci@example.com", cwd=tmp_path)
    git("config", "user.name", "CI", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def commit_all(repo):
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "baseline", cwd=repo)


def test_first_run_without_baseline_passes_and_says_so(repo, capsys):
    write_reports(repo, 0.99)
    assert main(["gate"]) == 0
    assert "No baseline reports at HEAD" in capsys.readouterr().out


def test_unchanged_metrics_pass(repo, capsys):
    write_reports(repo, 0.99)
    commit_all(repo)
    assert main(["gate"]) == 0
    assert "gate: passed (6/6 rules)" in capsys.readouterr().out


def test_a_regression_beyond_the_allowed_drop_fails(repo, capsys):
    write_reports(repo, 0.995)
    commit_all(repo)
    write_reports(repo, 0.98)
    assert main(["gate"]) == 1
    out = capsys.readouterr().out
    assert "FAILED on test.accuracy, test.macro_f1" in out
    assert "dropped 0.015 > 0.01" in out


def test_a_value_below_the_floor_fails_even_on_first_run(repo, capsys):
    write_reports(repo, 0.9)
    assert main(["gate"]) == 1
    assert "FAIL: below 0.97" in capsys.readouterr().out


def test_rev_selects_another_baseline(repo, capsys):
    write_reports(repo, 0.999)
    commit_all(repo)
    write_reports(repo, 0.985)
    commit_all(repo)
    assert main(["gate"]) == 0
    assert main(["gate", "--rev", "HEAD~1"]) == 1


def test_an_unknown_revision_is_a_clear_error(repo, capsys):
    write_reports(repo, 0.99)
    commit_all(repo)
    assert main(["gate", "--rev", "no-such-rev"]) == 2
    assert "git revision 'no-such-rev' not found" in capsys.readouterr().err


def test_missing_reports_are_a_clear_error(repo, capsys):
    assert main(["gate"]) == 2
    assert "run `dvc repro` first" in capsys.readouterr().err
