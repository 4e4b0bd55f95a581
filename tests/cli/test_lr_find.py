"""convpipe lr-find on a tiny prepared project: prints a suggestion, saves the plot, logs both to MLflow."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from convpipe.cli import main
from convpipe.data import shards
from convpipe.data.split import Record
from convpipe.model import lr_find
from tests.project import ROOT, set_params


def test_rates_grow_exponentially_from_start_to_end():
    tried = lr_find.rates(5, 1e-4, 1.0)
    assert tried[0] == pytest.approx(1e-4) and tried[-1] == pytest.approx(1.0)
    assert np.allclose(np.diff(np.log10(tried)), 1.0)


def test_smoothing_is_bias_corrected():
    assert lr_find.smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])


def test_suggestion_is_the_steepest_descent_before_the_minimum():
    tried = lr_find.rates(60, 1e-5, 1.0)
    # Flat, then falling fastest around the 30th rate, lowest near the 45th, then diverging.
    losses = [2.3 - 2.0 / (1 + np.exp(-(i - 30) / 3)) if i < 45 else 0.3 + (i - 45) * 0.5 for i in range(60)]
    rate, method = lr_find.suggest(tried, losses)
    assert method == "steepest descent"
    assert tried[28] <= rate <= tried[32]


def test_a_curve_without_descent_falls_back_to_the_minimum_over_ten():
    tried = lr_find.rates(20, 1e-5, 1.0)
    rate, method = lr_find.suggest(tried, [1.0 + i for i in range(20)])
    assert method == "minimum loss ÷ 10" and rate == pytest.approx(1e-6)


def prepared_project(tmp_path):
    """A project whose data/prepared holds 48 striped 16×16 grayscale images of two classes."""
    repo = tmp_path / "project"
    repo.mkdir()
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, repo / name)
    set_params(repo, model={"filters": [4, 8]}, tracking={"experiment": "lr-find-test"})
    rng, records = np.random.default_rng(0), []
    for i in range(48):
        label = ["top", "bottom"][i % 2]
        pixels = rng.uniform(0, 100, (16, 16)).astype(np.uint8)
        pixels[(i % 2) * 8 : (i % 2 + 1) * 8] += 150
        path = tmp_path / "images" / label / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        records.append(Record(str(path), label, str(i)))
    prepared = repo / "data" / "prepared"
    prepared.mkdir(parents=True)
    summary = shards.write_split(records, ["bottom", "top"], prepared, "train", 100, "grayscale", 10**6, (16, 16), 1)
    meta = {
        "class_names": ["bottom", "top"],
        "image_size": [16, 16],
        "channels": 1,
        "counts": {"train": {**summary.counts, "total": 48}},
    }
    (prepared / shards.META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return repo


def test_lr_find_prints_saves_and_logs_a_suggestion(tmp_path, monkeypatch, capsys):
    repo = prepared_project(tmp_path)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{repo / 'mlflow.db'}")
    out = tmp_path / "curve.png"
    assert main(["lr-find", "--steps", "30", "--start", "1e-5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lr-find: suggested train.learning_rate" in printed and str(out) in printed
    assert out.stat().st_size > 0
    import mlflow

    runs = mlflow.search_runs(experiment_names=["lr-find-test"], filter_string="tags.`convpipe.stage` = 'lr-find'")
    assert len(runs) == 1
    suggestion = runs["metrics.suggested_learning_rate"][0]
    assert 1e-5 <= suggestion <= 1.0 and f"{suggestion:.2g}" in printed
    artifacts = mlflow.MlflowClient().list_artifacts(runs["run_id"][0])
    assert [a.path for a in artifacts] == ["curve.png"]


def test_lr_find_without_prepared_data_says_what_to_run(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "empty"
    repo.mkdir()
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, repo / name)
    monkeypatch.chdir(repo)
    assert main(["lr-find"]) == 2
    assert "convpipe lr-find: error:" in capsys.readouterr().err
