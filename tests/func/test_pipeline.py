"""The whole DAG on a small subset of the digits, in a fresh git + DVC repository."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import project as project_copy

pytestmark = pytest.mark.slow  # the whole DAG (built once per session, shared)

ROOT = Path(__file__).resolve().parents[2]
STAGES = project_copy.STAGES


def run(*args, cwd):
    result = project_copy.run(*args, cwd=cwd)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(built_project):
    """The shared project built by one `dvc repro` of the whole DAG (tests/conftest.py), and what it printed."""
    return built_project, (built_project / ".dvc" / "tmp" / "repro.log").read_text(encoding="utf-8")


def test_every_stage_ran_and_wrote_its_outputs(project):
    repo, output = project
    for stage in STAGES:
        assert f"Running stage '{stage}'" in output
    assert len(list((repo / "data" / "raw").rglob("*.png"))) == 1797
    assert {p.name for p in (repo / "data" / "split").iterdir()} == {"train.csv", "val.csv", "test.csv", "summary.json"}
    meta = json.loads((repo / "data" / "prepared" / "meta.json").read_text())
    assert sum(meta["counts"][s]["total"] for s in ("train", "val", "test")) == 150
    assert (repo / "models" / "finetune" / "model.keras").stat().st_size > 10_000
    resolved = json.loads((repo / "models" / "finetune" / "phases.json").read_text())["resolved"]
    assert resolved["resolved.augment.flip"] == "none"  # augment.flip auto, on grayscale digits
    trained = json.loads((repo / "reports" / "train.json").read_text())
    history = list(csv.DictReader((repo / "models" / "train" / "history.csv").open(encoding="utf-8")))
    kept = min(history, key=lambda row: float(row["val_loss"]))
    assert trained["epochs"] == len(history) and trained["best_epoch"] == history.index(kept) + 1
    assert trained["val_accuracy"] == pytest.approx(float(kept["val_accuracy"]))
    metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert set(metrics["test"]["per_class"]) == {str(d) for d in range(10)}
    export = json.loads((repo / "reports" / "export.json").read_text())
    assert set(export) == {"keras", *yaml.safe_load((repo / "params.yaml").read_text())["export"]["formats"]}
    assert export["onnx"]["agreement"] == 1.0
    assert export["tflite_int8"]["size_bytes"] < export["tflite_float32"]["size_bytes"]
    for name in ("learning_curve.csv", "confusion.csv"):
        assert (repo / "reports" / "plots" / name).stat().st_size > 100


def test_a_second_repro_does_nothing(copy_of_built):
    repo = copy_of_built
    output = run("dvc", "repro", cwd=repo)
    assert "Running stage" not in output
    assert "Data and pipelines are up to date" in run("dvc", "status", cwd=repo)


def test_mlflow_holds_one_grouped_run_per_stage(project):
    repo, _ = project
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("convpipe")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    children = {r.data.tags["convpipe.stage"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert set(children) == set(STAGES)
    for stage, child in children.items():
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.data.params["train.learning_rate"] == str(0.002)
        assert child.data.tags["mlflow.source.git.commit"]
        assert client.list_artifacts(child.info.run_id), f"{stage} logged no artifacts"
        assert {"startup_s", "stage_wall_s", "cpu_s", "peak_rss_mb"} <= set(child.data.metrics)
        # TensorFlow costs seconds to import and hundreds of MB: stages that need no model must not load it.
        expected = "False" if stage in ("download", "split", "label_check", "report") else "True"
        assert child.data.tags["convpipe.imported_tensorflow"] == expected, stage
    history = client.get_metric_history(children["train"].info.run_id, "val_loss")
    assert len(history) == 2  # one point per epoch
    assert parents[0].data.metrics["test.accuracy"] == children["evaluate"].data.metrics["test.accuracy"]


def test_gate_passes_on_the_reports_it_produced(project):
    repo, _ = project
    result = subprocess.run([sys.executable, "-m", "convpipe", "gate"], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate: passed (1/1 rules)" in result.stdout
