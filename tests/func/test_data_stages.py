"""download → split → preprocess on dirty real-world folders, archives and TFDS, through `dvc repro`."""

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests import dirty_images
from tests import project as project_copy

ROOT = Path(__file__).resolve().parents[2]


def make_project(tmp_path: Path, **data) -> Path:
    """A copy of the project whose params point at another source."""
    return project_copy.copy_project(
        tmp_path / "project",
        commit=False,
        data={"color_mode": "rgb", "val_fraction": 0.25, "test_fraction": 0.25, **data},
    )


def repro(repo: Path, target="preprocess") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(["dvc", "repro", target], cwd=repo, capture_output=True, text=True, env=env)


def data_report(repo: Path) -> dict:
    return json.loads((repo / "reports" / "data.json").read_text())


def manifest_paths(repo: Path, split: str) -> set[str]:
    lines = (repo / "data" / "split" / f"{split}.csv").read_text(encoding="utf-8").splitlines()[1:]
    return {line.split(",")[0] for line in lines}


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("dirty")
    expected = dirty_images.make_dirty_dataset(tmp_path / "photos", good_per_class=6)
    cats, dogs = tmp_path / "photos" / "cats", tmp_path / "photos" / "dogs"
    shutil.copy(cats / "good_1.jpg", cats / "good_1 copy.jpg")  # the same photo twice in one class
    shutil.copy(cats / "good_2.jpg", dogs / "which_is_it.jpg")  # the same photo under two labels
    repo = make_project(tmp_path, source=f"dir:{tmp_path / 'photos'}")
    result = repro(repo)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return repo, expected


@pytest.mark.slow  # `dvc repro` of the data stages on a dirty folder
def test_every_file_left_out_is_reported_with_its_reason(dirty_run):
    repo, expected = dirty_run
    reasons = {Path(s["path"]).name: s["reason"] for s in data_report(repo)["skipped"]}
    assert reasons["empty.jpg"] == "empty file"
    assert reasons["truncated.jpg"] == "truncated image"
    assert reasons["notes.jpg"].startswith("not an image")
    assert reasons["bomb.png"].startswith("decompression bomb")
    assert reasons[".DS_Store"] == "hidden file" and reasons["README.txt"].startswith("not an image extension")
    copies = [name for name in ("good_1.jpg", "good_1 copy.jpg") if name in reasons]
    assert len(copies) == 1 and reasons[copies[0]].startswith("duplicate of")
    assert reasons["good_2.jpg"].startswith("label conflict") and reasons["which_is_it.jpg"].startswith(
        "label conflict"
    )
    kept = sum(data_report(repo)["class_counts"][s]["total"] for s in ("train", "val", "test"))
    # Every good image and every decodable dirty one is kept, less the three duplicate/conflict files.
    assert kept == expected["kept"] - 3 + 1  # +1: which_is_it.jpg was an extra file


@pytest.mark.slow  # `dvc repro` of the data stages on a dirty folder
def test_decodable_oddities_are_kept_with_notes(dirty_run):
    repo, _ = dirty_run
    notes = {Path(n["path"]).name: n["reason"] for n in data_report(repo)["notes"]}
    assert notes["animated.gif"].startswith("animated: used first of")
    assert notes["rotated.jpg"].startswith("exif-rotated")
    assert notes["cmyk.jpg"] == "converted from CMYK"
    assert any(
        name.startswith("café")
        for name in manifest_paths(repo, "train") | manifest_paths(repo, "val") | manifest_paths(repo, "test")
        for name in [Path(name).name]
    )


@pytest.mark.slow  # `dvc repro` of the data stages on a dirty folder
def test_the_split_of_a_folder_has_no_leaks(dirty_run):
    repo, _ = dirty_run
    splits = {s: manifest_paths(repo, s) for s in ("train", "val", "test")}
    assert not (splits["train"] & splits["test"]) and not (splits["train"] & splits["val"])
    hashes = {
        s: {line.split(",")[-1] for line in (repo / "data" / "split" / f"{s}.csv").read_text().splitlines()[1:]}
        for s in splits
    }
    assert not (hashes["train"] & hashes["test"]) and not (hashes["val"] & hashes["test"])


@pytest.mark.slow  # `dvc repro` of the data stages on an archive
def test_a_zip_archive_with_its_own_train_and_val_is_honoured(tmp_path):
    photos = tmp_path / "photos"
    for split, count in (("train", 8), ("val", 3)):
        for c, label in enumerate(("ants", "bees")):
            folder = photos / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                dirty_images.good_jpeg(folder, f"{i}.jpg", seed=1000 * c + 100 * len(split) + i)
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(photos.rglob("*.jpg")):
            zipped.write(path, Path("hymenoptera") / path.relative_to(photos))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    repo = make_project(tmp_path, source=f"url:{archive.as_uri()}", sha256=digest)
    result = repro(repo)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = data_report(repo)["class_counts"]
    assert counts["val"] == {"ants": 3, "bees": 3, "total": 6}  # the source's val, as given
    assert counts["test"]["total"] > 0 and counts["train"]["total"] + counts["test"]["total"] == 16
    assert all("/val-" in p for p in manifest_paths(repo, "val"))


@pytest.mark.slow  # `dvc repro` of the data stages on an archive
def test_a_wrong_sha256_stops_before_anything_is_extracted(tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("photos/a/1.txt", "x")
    repo = make_project(tmp_path, source=f"url:{archive.as_uri()}", sha256="0" * 64)
    result = repro(repo, "download")
    assert result.returncode != 0
    assert "sha256" in result.stderr and "Traceback" not in result.stderr
    assert not (repo / ".convpipe" / "extracted").exists()


def test_a_tfds_source_lands_in_the_raw_layout(tmp_path, monkeypatch):
    from convpipe.core.params import load_params
    from convpipe.data import layout, sources
    from tests.tfds_mock import mock_tfds

    monkeypatch.chdir(tmp_path)
    data = load_params(ROOT / "params.yaml").data.model_copy(
        update={"source": "tfds:mnist", "tfds_data_dir": str(tmp_path / "tfds")}
    )
    raw = tmp_path / "raw"
    raw.mkdir()
    with mock_tfds("mnist", tmp_path / "tfds", {"train": 20, "test": 20}, num_examples=20):
        counts = sources.materialise(data, raw)
    assert sum(counts.values()) == 40 and set(counts) == {str(d) for d in range(10)}
    assert set(layout.read_source_splits(raw).values()) == {"train", "test"}
    assert layout.read_download_report(raw)["source"] == "tfds:mnist"
