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
    metrics = {
        "test": {"accuracy": accuracy, "macro_f1": accuracy, "per_class": {"a": {"f1": accuracy}}},
        "data": {"label_issues": {"total": 1, "fraction": 0.01}},
    }
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
    assert "gate: passed (7/7 rules)" in capsys.readouterr().out


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


@pytest.mark.parametrize("text", ['"accuracy": Infinity', '"accuracy": 1e999', '"accuracy": NaN'])
def test_an_infinite_or_nan_metric_fails_and_promotes_nothing(repo, capsys, text):
    write_reports(repo, 0.99)
    metrics = repo / "reports" / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"accuracy": 0.99', text, 1))
    assert main(["gate", "--promote"]) == 1
    out = capsys.readouterr().out
    assert "FAILED on test.accuracy (6/7 rules)" in out
    assert "is not a finite number" in out
    assert "promote: gate failed, so 'champion' of 'convpipe-classifier' was not moved" in out


def test_a_negative_infinite_size_fails_its_ratio_rule(repo, capsys):
    write_reports(repo, 0.99)
    export = repo / "reports" / "export.json"
    export.write_text(export.read_text().replace('"size_bytes": 25000', '"size_bytes": -Infinity'))
    assert main(["gate"]) == 1
    assert "FAILED on export.tflite_int8.size_bytes" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"test": {"accuracy": ', "reports/metrics.json: not valid JSON: Expecting value: line 1 column 23"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "reports/metrics.json: not UTF-8 text (byte 0)"),
        (b'[{"test": {"accuracy": 0.99}}]', "reports/metrics.json: expected a JSON object of metrics, got a list"),
    ],
)
def test_a_broken_report_is_one_line_naming_the_file(repo, capsys, content, expected):
    write_reports(repo, 0.99)
    (repo / "reports" / "metrics.json").write_bytes(content)
    assert main(["gate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"convpipe gate: error: {expected}") and err.count("\n") == 1


def test_a_broken_baseline_names_the_file_and_revision(repo, capsys):
    write_reports(repo, 0.99)
    (repo / "reports" / "metrics.json").write_text('{"test": ')
    commit_all(repo)
    write_reports(repo, 0.99)
    assert main(["gate"]) == 2
    assert capsys.readouterr().err.startswith("convpipe gate: error: reports/metrics.json at HEAD: not valid JSON")
