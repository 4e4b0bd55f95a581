"""convpipe tune refuses a bad search space before any trial runs: one line naming the key, nothing created."""

import pytest

from convpipe.cli import main
from tests.project import copy_project, run, set_params


@pytest.fixture
def project(tmp_path, monkeypatch):
    repo = copy_project(tmp_path / "repo")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return repo


@pytest.mark.parametrize(
    "space, expected",
    [
        ({"train.lerning_rate": {"low": 0.001, "high": 0.01}}, "tune.space: 'train.lerning_rate' is not a params key"),
        (
            {"model.dropout": {"low": 0.2, "high": 1.5}},
            "tune.space.model.dropout: high 1.5 is not a valid model.dropout",
        ),
    ],
)
def test_a_bad_space_is_refused_before_any_trial(project, capsys, space, expected):
    set_params(project, tune={"space": space, "baseline": False})
    assert main(["tune", "-n", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("convpipe tune: error: params.yaml: ") and expected in err[0]
    assert not (project / ".convpipe").exists()  # no study, no lock, no log
    assert run("git", "for-each-ref", "refs/exps", cwd=project).stdout == ""
    assert not (project / "mlflow.db").exists() and not (project.parent / "mlflow.db").exists()


def test_bad_counts_are_refused(project, capsys):
    assert main(["tune", "-j", "0"]) == 2
    assert capsys.readouterr().err.strip() == "convpipe tune: error: -j/--workers must be at least 1, got 0"
