"""The evaluate and report stages on a tiny prepared data set and model: every file, run and version they promise."""

import csv
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from convpipe.core.params import Model
from convpipe.data import shards
from convpipe.data.split import Record, write_manifest
from convpipe.evaluate import report
from convpipe.model.builders import build_model
from convpipe.model.training import compile_model
from convpipe.ops import registry

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["down", "left", "right", "up"]
PLOT_DATA = ["confusion.csv", "learning_curve.csv", "precision_recall.csv", "reliability.csv", "tsne.csv"]


def write_images(folder: Path, split: str, per_class: int, rng) -> list[Record]:
    """16×16 greyscale images with a bright bar on the side their class names, plus noise."""
    found = []
    for label, name in enumerate(CLASSES):
        for i in range(per_class):
            pixels = rng.uniform(0, 60, (16, 16))
            side = [np.s_[12:, :], np.s_[:, :4], np.s_[:, 12:], np.s_[:4, :]][label]
            pixels[side] = 255
            path = folder / f"{split}-{name}-{i}.png"
            Image.fromarray(pixels.astype(np.uint8)).save(path)
            found.append(Record(str(path), name, f"{split}{label}{i}"))
    return found


def prepare(root: Path) -> None:
    """data/prepared, models/{train,finetune} and the other stages' reports, as the pipeline leaves them."""
    rng = np.random.default_rng(0)
    (root / "raw").mkdir()
    prepared = root / "data" / "prepared"
    prepared.mkdir(parents=True)
    counts = {}
    for split, per_class in (("train", 8), ("val", 4), ("test", 6)):
        written = write_images(root / "raw", split, per_class, rng)
        write_manifest(written, root / "data" / "split" / f"{split}.csv")  # the index stage reads train's
        summary = shards.write_split(written, CLASSES, prepared, split, 100, "grayscale", 10**6, (16, 16), 1)
        counts[split] = {**summary.counts, "total": sum(summary.counts.values())}
    with open(prepared / shards.META_FILE, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "class_names": CLASSES,
                "image_size": [16, 16],
                "channels": 1,
                "color_mode": "grayscale",
                "counts": counts,
            },
            handle,
        )
    tf.keras.utils.set_random_seed(0)
    model = build_model(Model(arch="small_convnet", filters=[4], dropout=0.1), (16, 16, 1), len(CLASSES))
    compile_model(model, 0.01)
    images, labels = shards.arrays(prepared, "train")
    for phase, epochs in (("train", 3), ("finetune", 2)):
        out = root / "models" / phase
        out.mkdir(parents=True)
        model.fit(
            images,
            labels,
            epochs=epochs,
            verbose=0,
            callbacks=[tf.keras.callbacks.CSVLogger(str(out / "history.csv"))],
            validation_data=shards.arrays(prepared, "val"),
        )
        model.save(out / "model.keras")
    (root / "reports").mkdir()
    with open(root / "reports" / "data.json", "w", encoding="utf-8") as handle:
        json.dump({"class_counts": counts, "skipped": [], "notes": []}, handle)
    with open(root / "reports" / "export.json", "w", encoding="utf-8") as handle:
        json.dump({"keras": {"accuracy": 1.0, "agreement": 1.0, "size_bytes": 1000, "runtime": "tf.keras"}}, handle)


@pytest.mark.slow
def test_evaluate_then_report(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    prepare(tmp_path)
    from stages import evaluate, label_check
    from stages import index as index_stage
    from stages import report as report_stage

    label_check.main()
    index_stage.main()
    evaluate.main()
    reports = tmp_path / "reports"
    with open(reports / "metrics.json", encoding="utf-8") as handle:
        metrics = json.load(handle)
    assert set(metrics) == {"test", "val", "data"}
    assert set(metrics["data"]["label_issues"]) == {"total", "fraction", "per_class"}
    assert {"accuracy", "loss", "macro_f1", "weighted_f1", "top_3_accuracy", "ece", "per_class"} <= set(metrics["test"])
    assert sum(c["support"] for c in metrics["test"]["per_class"].values()) == 24
    retrieval = metrics["test"]["retrieval"]
    assert retrieval["index"] == "exact" and retrieval["indexed_images"] == 32 and retrieval["queries"] == 24
    for key in ("precision_at_k", "map_at_k", "knn_accuracy"):
        assert 0.0 <= retrieval[key] <= 1.0, key
    assert retrieval["softmax_accuracy"] == metrics["test"]["accuracy"]
    for name in PLOT_DATA:
        with open(reports / "plots" / name, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if name == "reliability.csv":  # one row per non-empty confidence bin: a sure model may fill one
            assert rows and sum(int(r["count"]) for r in rows) == 24, name
        else:
            assert len(rows) >= 2, name
    for name in report.FIGURES:
        with Image.open(reports / "figures" / name) as image:
            assert image.format == "PNG" and min(image.size) > 100, name
            assert np.asarray(image.convert("L")).std() > 10, name

    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("convpipe-classifier", registry.CANDIDATE)
    assert float(version.tags["test.accuracy"]) == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    run = client.get_run(version.run_id)
    assert run.data.metrics["test.per_class.up.recall"] == metrics["test"]["per_class"]["up"]["recall"]
    logged = {item.path for item in client.list_artifacts(run.info.run_id, "figures")}
    assert logged == {f"figures/{name}" for name in report.FIGURES}
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.metrics["test.accuracy"] == pytest.approx(metrics["test"]["accuracy"])

    report_stage.main()
    page = (reports / "report.md").read_text(encoding="utf-8")
    for name in report.FIGURES:
        assert f"(figures/{name})" in page
    assert f"{metrics['test']['accuracy']:.2%}" in page
    assert f"| {retrieval['precision_at_k']:.4f} | {retrieval['map_at_k']:.4f} |" in page
