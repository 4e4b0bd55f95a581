"""`convpipe gate --promote` moves `champion` only when the gate passes; the champion loads with pyfunc."""

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
import tensorflow as tf

from convpipe.cli import main
from convpipe.ops import registry

ROOT = Path(__file__).resolve().parents[2]
NAME = "convpipe-classifier"  # tracking.registered_model in params.yaml


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A project folder with params.yaml and its own MLflow store, outside any git checkout."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "reports").mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    # Its own experiment: an earlier test in this worker may have left another store's experiment active.
    mlflow.set_experiment("gate-promote")
    return tmp_path


def write_reports(folder: Path, accuracy: float) -> None:
    with open(folder / "reports" / "metrics.json", "w", encoding="utf-8") as handle:
        metrics = {"test": {"accuracy": accuracy, "macro_f1": accuracy}, "data": {"label_issues": {"fraction": 0}}}
        json.dump(metrics, handle)
    with open(folder / "reports" / "export.json", "w", encoding="utf-8") as handle:
        json.dump(
            {
                "keras": {"accuracy": accuracy},
                "tflite_float32": {"size_bytes": 100_000},
                "tflite_int8": {"accuracy": accuracy, "size_bytes": 25_000},
                "tflite_qat_int8": {"accuracy": accuracy},
                "onnx": {"agreement": 1.0},
            },
            handle,
        )


def tiny_model(seed: int) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((4, 4, 1))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax")(tf.keras.layers.Flatten()(inputs)))


def register(model: tf.keras.Model, images: np.ndarray, accuracy: float) -> str:
    with mlflow.start_run():
        return registry.register(model, NAME, images, {"test.accuracy": accuracy})


def alias(name: str) -> str | None:
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(NAME, name).version)
    except mlflow.exceptions.MlflowException:
        return None


@pytest.mark.slow
def test_promote_moves_champion_only_when_the_gate_passes(workspace, capsys):
    images = np.random.default_rng(0).uniform(0, 255, (5, 4, 4, 1)).astype(np.float32)
    first, second = tiny_model(1), tiny_model(2)

    assert register(first, images, 0.99) == "1"
    assert alias(registry.CANDIDATE) == "1" and alias(registry.CHAMPION) is None
    version = mlflow.MlflowClient().get_model_version(NAME, "1")
    assert version.tags["test.accuracy"] == "0.99"
    write_reports(workspace, 0.99)
    assert main(["gate", "--promote"]) == 0
    assert alias(registry.CHAMPION) == "1"

    assert register(second, images, 0.5) == "2"
    write_reports(workspace, 0.5)
    assert main(["gate", "--promote"]) == 1
    assert "was not moved" in capsys.readouterr().out
    assert alias(registry.CANDIDATE) == "2" and alias(registry.CHAMPION) == "1"

    # A candidate the workspace's reports do not describe is never promoted, even by a passing gate.
    write_reports(workspace, 0.98)
    assert main(["gate", "--promote"]) == 2
    assert "test.accuracy = 0.5" in capsys.readouterr().err
    assert alias(registry.CHAMPION) == "1"

    champion = mlflow.pyfunc.load_model(f"models:/{NAME}@{registry.CHAMPION}")
    predicted = np.asarray(champion.predict(images))
    assert predicted.shape == (5, 3)
    np.testing.assert_allclose(predicted, first.predict(images, verbose=0), rtol=1e-5)
    assert not np.allclose(predicted, second.predict(images, verbose=0))


def test_promote_without_a_candidate_is_a_readable_error(workspace, capsys):
    write_reports(workspace, 0.99)
    assert main(["gate", "--promote"]) == 2
    assert f"registered model {NAME!r} has no 'candidate' version" in capsys.readouterr().err
