"""The finetune stage keeps the better of its starting and finetuned weights, and says which."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def stage(name: str, repo: Path) -> str:
    result = subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=repo, capture_output=True, text=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def set_params(repo: Path, **sections) -> None:
    with open(repo / "params.yaml", encoding="utf-8") as handle:
        params = yaml.safe_load(handle)
    for section, values in sections.items():
        params[section].update(values)
    with open(repo / "params.yaml", "w", encoding="utf-8") as handle:
        yaml.safe_dump(params, handle)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project copy with 15 digits per class, trained for 2 epochs."""
    repo = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "params.yaml", repo)
    for folder in ("convpipe", "stages"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    set_params(repo, data={"max_per_class": 15}, train={"epochs": 2, "batch_size": 32})
    for name in ("download", "split", "preprocess", "train"):
        stage(name, repo)
    return repo


def val_loss(repo: Path, model_dir: str) -> float:
    from convpipe.data import records
    import tensorflow as tf

    model = tf.keras.models.load_model(repo / "models" / model_dir / "model.keras", safe_mode=True)
    images, labels = records.arrays(repo / "data" / "prepared", "val")
    probabilities = model.predict(images, verbose=0)
    return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


@pytest.mark.slow
@pytest.mark.parametrize("learning_rate,epochs,kept", [(1.0, 2, "start"), (0.002, 4, "finetuned")])
def test_finetune_keeps_the_lower_val_loss(trained, learning_rate, epochs, kept):
    set_params(trained, finetune={"learning_rate": learning_rate, "epochs": epochs})
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
    run = client.search_runs(client.get_experiment_by_name("convpipe").experiment_id,
                             "tags.`convpipe.stage` = 'finetune'", order_by=["attributes.start_time DESC"])[0]
    assert run.data.tags["convpipe.finetune.kept"] == kept
    assert run.data.metrics["kept_finetuned"] == float(kept == "finetuned")
