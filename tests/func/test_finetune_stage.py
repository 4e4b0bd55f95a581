"""The finetune stage keeps the better of its starting and finetuned weights, and says which."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import project as project_copy

ROOT = Path(__file__).resolve().parents[2]


def stage(name: str, repo: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", f"stages.{name}"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def retrained(built_project, tmp_path_factory) -> Path:
    """A copy of the shared built project whose train stage ran again, for 2 epochs on 15 digits per class, on a
    batch-norm-free model: after those epochs convnet_bn's val predictions still sit at chance (its batch
    statistics have not settled), which says nothing about which weights finetune keeps."""
    repo = tmp_path_factory.mktemp("finetune") / "project"
    shutil.copytree(built_project, repo, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db"))
    project_copy.set_params(repo, model={"arch": "small_convnet"})
    stage("train", repo)
    return repo


@pytest.fixture
def trained(retrained, tmp_path) -> Path:
    """A private copy of `retrained`, with the MLflow runs of its train stage."""
    return Path(shutil.copytree(retrained, tmp_path / "project", symlinks=True))


def val_loss(repo: Path, model_dir: str) -> float:
    import tensorflow as tf

    from convpipe.data import shards

    model = tf.keras.models.load_model(repo / "models" / model_dir / "model.keras", safe_mode=True)
    images, labels = shards.arrays(repo / "data" / "prepared", "val")
    probabilities = model.predict(images, verbose=0)
    return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


@pytest.mark.slow
@pytest.mark.parametrize("learning_rate,epochs,kept", [(1.0, 2, "start"), (0.002, 4, "finetuned")])
def test_finetune_keeps_the_lower_val_loss(trained, learning_rate, epochs, kept):
    project_copy.set_params(trained, finetune={"learning_rate": learning_rate, "epochs": epochs, "patience": epochs})
    output = stage("finetune", trained)
    assert f"kept the {kept} weights" in output
    with open(trained / "models" / "finetune" / "phases.json", encoding="utf-8") as handle:
        phases = json.load(handle)
    assert phases["kept"] == kept
    start, tuned = phases["train"]["val_loss"], phases["finetune"]["val_loss"]
    assert (tuned < start) == (kept == "finetuned")
    assert val_loss(trained, "finetune") == pytest.approx(min(start, tuned), rel=1e-3)
    assert val_loss(trained, "train") == pytest.approx(start, rel=1e-3)

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{trained / 'mlflow.db'}")
    run = client.search_runs(
        client.get_experiment_by_name("convpipe").experiment_id,
        "tags.`convpipe.stage` = 'finetune'",
        order_by=["attributes.start_time DESC"],
    )[0]
    assert run.data.tags["convpipe.finetune.kept"] == kept
    assert run.data.metrics["kept_finetuned"] == float(kept == "finetuned")
