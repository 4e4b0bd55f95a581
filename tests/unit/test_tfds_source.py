import csv

import numpy as np
import pytest
from PIL import Image

from convpipe.data.tfds_source import export_tfds
from tests.tfds_mock import mock_tfds

pytest.importorskip("tensorflow_datasets")

MNIST_CLASSES = [str(d) for d in range(10)]


def pngs(raw_dir):
    return sorted(p.relative_to(raw_dir).as_posix() for p in raw_dir.rglob("*.png"))


def test_mnist_exports_pngs_per_class_with_source_splits(tmp_path):
    with mock_tfds("mnist", tmp_path / "tfds", {"train": 12, "test": 12}, num_examples=12):
        counts = export_tfds("mnist", tmp_path / "raw", str(tmp_path / "tfds"), True, None)
    raw = tmp_path / "raw"
    assert list(counts) == MNIST_CLASSES and sum(counts.values()) == 24
    assert sorted(p.name for p in raw.iterdir() if p.is_dir()) == MNIST_CLASSES
    files = pngs(raw)
    assert len(files) == 24 and all(f.split("/")[1].split("-")[0] in ("train", "test") for f in files)
    with Image.open(raw / files[0]) as image:
        assert image.mode == "L" and image.size == (28, 28)
    with open(raw / "source_splits.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["relpath", "split"]
    assert sorted(r[0] for r in rows[1:]) == files
    assert {r[1] for r in rows[1:]} == {"train", "test"}
    assert all(r[0].split("/")[1].startswith(r[1] + "-") for r in rows[1:])


def test_export_is_deterministic_and_capped_per_split(tmp_path):
    runs = []
    for run in ("a", "b"):
        with mock_tfds("mnist", tmp_path / "tfds", {"train": 40, "test": 40}, num_examples=40):
            counts = export_tfds("mnist", tmp_path / run, str(tmp_path / "tfds"), False, 1)
        files = pngs(tmp_path / run)
        runs.append((counts, files, [np.asarray(Image.open(tmp_path / run / f)).sum() for f in files]))
    assert runs[0] == runs[1]
    counts = runs[0][0]
    assert set(counts.values()) <= {0, 1, 2}  # at most one per class in each of the two splits
    assert not (tmp_path / "a" / "source_splits.csv").exists()


def test_tf_flowers_class_names_and_rgb(tmp_path):
    with mock_tfds("tf_flowers", tmp_path / "tfds", {"train": 10}, num_examples=10):
        counts = export_tfds("tf_flowers", tmp_path / "raw", str(tmp_path / "tfds"), True, None)
    assert sorted(counts) == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    files = pngs(tmp_path / "raw")
    assert len(files) == 10 and all(f.split("/")[1].startswith("train-") for f in files)
    with Image.open(tmp_path / "raw" / files[0]) as image:
        assert image.mode == "RGB"
    assert not (tmp_path / "raw" / "source_splits.csv").exists()  # a single split: nothing to honour


def test_dataset_without_class_label_is_refused(tmp_path):
    with (
        mock_tfds("coco_captions", tmp_path / "tfds", {"train": 1}, num_examples=1),
        pytest.raises(
            ValueError, match="coco_captions: needs exactly one Image and one ClassLabel feature; its features are"
        ),
    ):
        export_tfds("coco_captions", tmp_path / "raw", str(tmp_path / "tfds"), False, None)


def test_unknown_splits_cannot_be_kept(tmp_path):
    with (
        mock_tfds("mnist", tmp_path / "tfds", {"train": 2, "extra": 2}, num_examples=2),
        pytest.raises(ValueError, match=r"mnist: splits \['extra'\] are not train, validation or test"),
    ):
        export_tfds("mnist", tmp_path / "raw", str(tmp_path / "tfds"), True, None)
