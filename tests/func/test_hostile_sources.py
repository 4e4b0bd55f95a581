"""The data stages through `dvc repro` on sources built to break them: links of every kind, special files, names
that are not UTF-8 or too long, a class no image of which decodes, and a zip bomb."""

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests import dirty_images as dirty
from tests import project as project_copy

pytestmark = pytest.mark.slow  # each test runs `dvc repro` of the data stages


def make_project(tmp_path: Path, source: str, **data) -> Path:
    return project_copy.copy_project(
        tmp_path / "project",
        commit=False,
        data={"source": source, "color_mode": "rgb", "val_fraction": 0.25, "test_fraction": 0.25, **data},
    )


def repro(repo: Path, target: str) -> subprocess.CompletedProcess:
    return project_copy.run("dvc", "repro", target, cwd=repo, check=False)


def classes(root: Path, names=("ants", "bees"), per_class=5) -> Path:
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            dirty.good_jpeg(root / name, f"{i}.jpg", seed=10 * c + i)
    return root


def test_links_special_files_and_odd_names_end_in_a_plain_cached_folder(tmp_path):
    secret = dirty.good_jpeg(tmp_path, "secret.jpg", seed=99)  # outside the source
    src = classes(tmp_path / "photos" / "train")
    ants = src / "ants"
    (ants / "alias.jpg").symlink_to("0.jpg")
    (ants / "secret.jpg").symlink_to(secret)
    (ants / "passwd.jpg").symlink_to("/etc/passwd")
    (ants / "dangling.jpg").symlink_to("gone.jpg")
    (ants / "loop.jpg").symlink_to("loop.jpg")
    os.mkfifo(ants / "pipe.jpg")
    dirty.good_jpeg(ants, os.fsdecode(b"photo-\xff.jpg"), seed=50)
    (ants / os.fsdecode(b"notes\xff.txt")).write_text("x")
    dirty.good_jpeg(src / "bees", "b" * 251 + ".jpg", seed=51)  # 255 bytes; 261 with the train- prefix
    repo = make_project(tmp_path, f"dir:{tmp_path / 'photos'}")
    result = repro(repo, "preprocess")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    raw = repo / "data" / "raw"
    assert not [p for p in raw.rglob("*") if p.is_symlink()]
    cached = {p.read_bytes() for p in (repo / ".dvc" / "cache").rglob("*") if p.is_file()}
    assert secret.read_bytes() not in cached and Path("/etc/passwd").read_bytes() not in cached
    report = json.loads((raw / "download.json").read_text(encoding="utf-8"))
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert reasons == {
        "dangling.jpg": "dangling symlink",
        "loop.jpg": "symlink loop",
        "notes\\xff.txt": "not an image extension: .txt",
        "passwd.jpg": "symlink to /etc/passwd, outside the source folder",
        "pipe.jpg": "not a regular file (a FIFO)",
        "secret.jpg": f"symlink to {secret}, outside the source folder",
    }
    stored = {Path(r["path"]).name: r["stored_as"] for r in report["renamed"]}
    assert stored["photo-\\xff.jpg"] == "ants/train-photo-_xff.jpg"
    assert (raw / stored["b" * 251 + ".jpg"]).is_file()
    assert json.loads((repo / "reports" / "data.json").read_text())["renamed"] == report["renamed"]


def test_a_class_no_image_of_which_decodes_stops_before_training(tmp_path):
    src = classes(tmp_path / "photos", names=("ants",))
    (src / "bees").mkdir()
    for i in range(4):
        (src / "bees" / f"{i}.jpg").write_text(f"notes, not a photo ({i})")  # distinct: copies would be merged
    repo = make_project(tmp_path, f"dir:{src}")
    result = repro(repo, "train")
    assert result.returncode != 0
    assert "preprocess: error: class(es) 'bees' have no decodable image in the train split" in result.stderr
    assert not (repo / "models").exists()
    skipped = json.loads((repo / "reports" / "data.json").read_text())["skipped"]
    assert sorted(Path(s["path"]).name for s in skipped) == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path):
    bomb = tmp_path / "photos.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("ants", "bees"):
            for i in range(3):
                archive.write(dirty.good_jpeg(tmp_path, f"{name}{i}.jpg", seed=i), f"photos/{name}/{i}.jpg")
        with archive.open("photos/bees/zeros.bmp", "w", force_zip64=True) as member:
            for _ in range(256):  # 256 MiB of zeros in about 256 KB
                member.write(bytes(2**20))
    digest = hashlib.sha256(bomb.read_bytes()).hexdigest()
    repo = make_project(tmp_path, f"url:{bomb.as_uri()}", sha256=digest)
    before = project_bytes(repo)
    result = repro(repo, "download")
    assert result.returncode != 0
    assert "refusing member 'photos/bees/zeros.bmp': unpacking would write more than" in result.stderr
    assert "(data.max_compression_ratio=100 × the archive's" in result.stderr
    # The cached archive, DVC's own state files and bytecode; never the 256 MiB member.
    assert project_bytes(repo) - before < 2 * bomb.stat().st_size + 2**20


def project_bytes(repo):
    return sum(p.stat().st_size for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts)
