import csv
import json
import os
import unicodedata
from dataclasses import asdict

import pytest

from convpipe.data.folder_source import MAX_NAME_BYTES, Renamed, copy_tree, find_layout, safe_name, storable_name
from convpipe.data.images import Skipped
from tests import dirty_images as dirty


def make_classes(folder, classes=("ants", "bees"), per_class=2):
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            dirty.good_jpeg(folder / name, f"{i}.jpg", seed=10 * c + i)
    return folder


def files(raw_dir):
    return sorted(p.relative_to(raw_dir).as_posix() for p in raw_dir.rglob("*") if p.is_file())


def read_splits(raw_dir):
    with open(raw_dir / "source_splits.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_plain_class_folders(tmp_path):
    src = make_classes(tmp_path / "src")
    assert find_layout(src) == {"all": src}
    assert copy_tree(find_layout(src), tmp_path / "raw") == ([], [])
    assert files(tmp_path / "raw") == ["ants/0.jpg", "ants/1.jpg", "bees/0.jpg", "bees/1.jpg"]


@pytest.mark.parametrize("val_name", ["val", "validation"])
def test_split_folders_go_flat_with_a_splits_file(tmp_path, val_name):
    src = tmp_path / "src"
    make_classes(src / "train")
    make_classes(src / val_name, per_class=1)
    make_classes(src / "test", per_class=1)
    layout = find_layout(src)
    assert layout == {"train": src / "train", "val": src / val_name, "test": src / "test"}
    copy_tree(layout, tmp_path / "raw")
    assert files(tmp_path / "raw") == [
        "ants/test-0.jpg", "ants/train-0.jpg", "ants/train-1.jpg", "ants/val-0.jpg",
        "bees/test-0.jpg", "bees/train-0.jpg", "bees/train-1.jpg", "bees/val-0.jpg",
        "source_splits.csv",
    ]  # fmt: skip
    rows = read_splits(tmp_path / "raw")
    assert rows[0] == ["relpath", "split"]
    assert ["ants/val-0.jpg", "val"] in rows and ["bees/test-0.jpg", "test"] in rows and len(rows) == 9


def test_dirty_names_nesting_and_skips(tmp_path):
    src = make_classes(tmp_path / "src", per_class=1)
    dirty.nested(src / "ants")  # ants/a/b/deep.jpg
    dirty.good_jpeg(src / "ants", "a__b__deep.jpg")  # collides with the flattened name
    dirty.good_jpeg(src / "ants", "A__B__DEEP.JPG")  # collides case-insensitively
    dirty.non_ascii_png(src / "bees", unicodedata.normalize("NFD", "café_ñ_日本.png"))
    dirty.hidden_files(src / "bees")
    (src / "bees" / "notes.txt").write_text("x")
    (src / "stray.jpg").write_bytes(b"x")
    (src / "__MACOSX" / "ants").mkdir(parents=True)
    (src / "__MACOSX" / "ants" / "._0.jpg").write_bytes(b"fork")
    skipped, renamed = copy_tree(find_layout(src), tmp_path / "raw")
    assert files(tmp_path / "raw") == [
        "ants/0.jpg", "ants/A__B__DEEP.JPG", "ants/a__b__deep-2.jpg", "ants/a__b__deep-3.jpg",
        "bees/0.jpg", "bees/café_ñ_日本.png",
    ]  # fmt: skip
    assert (tmp_path / "raw" / "bees" / "café_ñ_日本.png").is_file()  # NFC on disk, opens by that name
    assert skipped == [
        Skipped(str(src / name), reason)
        for name, reason in [
            ("__MACOSX/ants/._0.jpg", "hidden file"),
            ("bees/.DS_Store", "hidden file"),
            ("bees/._x.jpg", "hidden file"),
            ("bees/notes.txt", "not an image extension: .txt"),
            ("stray.jpg", "not inside a class folder"),
        ]
    ]
    assert not (tmp_path / "raw" / "source_splits.csv").exists()
    assert renamed == []  # NFC, numbering and flattening are the ordinary rules, not renames


def test_files_are_hard_linked_when_possible(tmp_path):
    src = make_classes(tmp_path / "src")
    copy_tree(find_layout(src), tmp_path / "raw")
    assert os.path.samefile(src / "ants" / "0.jpg", tmp_path / "raw" / "ants" / "0.jpg")


def test_empty_class_is_an_error(tmp_path):
    src = make_classes(tmp_path / "src")
    (src / "wasps").mkdir()
    (src / "wasps" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match="src: class folder 'wasps' contains no images"):
        find_layout(src)


def test_single_class_is_an_error(tmp_path):
    src = make_classes(tmp_path / "src", classes=("ants",))
    with pytest.raises(ValueError, match=r"src: only one class folder \('ants'\); need at least 2"):
        find_layout(src)


def test_no_class_folders_is_an_error(tmp_path):
    (tmp_path / "src").mkdir()
    dirty.good_jpeg(tmp_path / "src")
    with pytest.raises(ValueError, match="src: no class folders"):
        find_layout(tmp_path / "src")


def test_split_layout_errors(tmp_path):
    src = tmp_path / "src"
    make_classes(src / "train")
    make_classes(src / "val", classes=("ants", "wasps"))
    with pytest.raises(ValueError, match=r"val: classes \['wasps'\] have no folder in .*train"):
        find_layout(src)
    make_classes(src / "extra")
    with pytest.raises(ValueError, match=r"unexpected folders \['extra'\] beside train/"):
        find_layout(src)


def test_class_names_that_would_collide_are_an_error(tmp_path):
    src = make_classes(tmp_path / "src", classes=("a:b", "a_b"))
    with pytest.raises(ValueError, match="classes 'a:b' and 'a_b' would share one folder"):
        find_layout(src)


def test_copy_tree_refuses_a_non_empty_raw_dir(tmp_path):
    src = make_classes(tmp_path / "src")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "old.jpg").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="raw: not empty"):
        copy_tree(find_layout(src), tmp_path / "raw")


@pytest.mark.parametrize(
    "name, safe",
    [
        ("café_ñ_日本.png", "café_ñ_日本.png"),
        ('a<b>:"c|?*.jpg', "a_b___c___.jpg"),
        (".hidden", "_hidden"),
        ("trail. ", "trail"),
        ("", "_"),
    ],
)
def test_safe_name(name, safe):
    assert safe_name(name) == safe


def test_links_resolve_only_within_the_source_and_special_files_are_skipped(tmp_path):
    outside = tmp_path / "outside.jpg"
    dirty.good_jpeg(tmp_path, "outside.jpg", seed=99)
    src = make_classes(tmp_path / "src")
    ants = src / "ants"
    (ants / "alias.jpg").symlink_to("0.jpg")  # relative, inside: imported as a file with 0.jpg's content
    (ants / "cross.jpg").symlink_to("../bees/0.jpg")  # inside the source, another class folder
    (ants / "secret.jpg").symlink_to(outside)
    (ants / "passwd.jpg").symlink_to("/etc/passwd")
    (ants / "dangling.jpg").symlink_to("missing.jpg")
    (ants / "loop.jpg").symlink_to("loop.jpg")
    os.mkfifo(ants / "pipe.jpg")
    skipped, _ = copy_tree(find_layout(src), tmp_path / "raw")
    raw = tmp_path / "raw"
    assert files(raw) == ["ants/0.jpg", "ants/1.jpg", "ants/alias.jpg", "ants/cross.jpg", "bees/0.jpg", "bees/1.jpg"]
    assert not any(p.is_symlink() for p in raw.rglob("*"))
    assert (raw / "ants" / "alias.jpg").read_bytes() == (ants / "0.jpg").read_bytes()
    assert (raw / "ants" / "cross.jpg").read_bytes() == (src / "bees" / "0.jpg").read_bytes()
    assert {s.path.rsplit("/", 1)[1]: s.reason for s in skipped} == {
        "dangling.jpg": "dangling symlink",
        "loop.jpg": "symlink loop",
        "passwd.jpg": "symlink to /etc/passwd, outside the source folder",
        "pipe.jpg": "not a regular file (a FIFO)",
        "secret.jpg": f"symlink to {outside}, outside the source folder",
    }
    assert outside.read_bytes() not in [p.read_bytes() for p in raw.rglob("*.jpg")]


def test_a_class_whose_every_file_is_skipped_is_an_error_naming_it(tmp_path):
    src = make_classes(tmp_path / "src")
    (src / "wasps").mkdir()
    (src / "wasps" / "nest.jpg").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match=r"src: class folder\(s\) wasps hold no file that can be imported"):
        copy_tree(find_layout(src), tmp_path / "raw")


def test_names_that_are_not_utf8_are_stored_safely_and_reported(tmp_path):
    src = make_classes(tmp_path / "src")
    bad = os.fsdecode(b"photo-\xff.jpg")
    dirty.good_jpeg(src / "bees", bad, seed=7)
    (src / "bees" / os.fsdecode(b"notes\xff.txt")).write_text("x")
    (src / os.fsdecode(b"w\xe4sps")).mkdir()
    dirty.good_jpeg(src / os.fsdecode(b"w\xe4sps"), "0.jpg", seed=8)
    skipped, renamed = copy_tree(find_layout(src), tmp_path / "raw")
    assert "bees/photo-_xff.jpg" in files(tmp_path / "raw") and "w_xe4sps/0.jpg" in files(tmp_path / "raw")
    assert skipped == [Skipped(f"{src}/bees/notes\\xff.txt", "not an image extension: .txt")]
    assert sorted(renamed, key=lambda r: r.path) == [
        Renamed(f"{src}/bees/photo-\\xff.jpg", "bees/photo-_xff.jpg"),
        Renamed(f"{src}/w\\xe4sps/0.jpg", "w_xe4sps/0.jpg"),
    ]
    json.dumps([asdict(r) for r in renamed + skipped], ensure_ascii=False).encode("utf-8")  # a report can hold them


def test_a_name_too_long_to_store_with_its_split_prefix_is_shortened_and_reported(tmp_path):
    src = tmp_path / "src"
    make_classes(src / "train")
    long_name = "x" * 251 + ".jpg"  # 255 bytes, the most a file system allows; train- would make it 261
    dirty.good_jpeg(src / "train" / "ants", long_name, seed=5)
    _, renamed = copy_tree(find_layout(src), tmp_path / "raw")
    [entry] = renamed
    assert entry.path == str(src / "train" / "ants" / long_name)
    stored = tmp_path / "raw" / entry.stored_as
    assert stored.is_file() and len(stored.name.encode()) <= MAX_NAME_BYTES and stored.suffix == ".jpg"
    assert stored.name.startswith("train-xxx") and ["ants/" + stored.name, "train"] in read_splits(tmp_path / "raw")
    assert storable_name("é" * 200 + ".png").encode().decode() == storable_name("é" * 200 + ".png")  # whole chars
