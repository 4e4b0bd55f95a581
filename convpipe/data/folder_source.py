"""Read a folder of class folders, optionally split into train/val/test, into the raw layout."""

import os
import re
import shutil
import unicodedata
from pathlib import Path

from convpipe.data.images import Skipped, list_images
from convpipe.data.layout import write_source_splits

SPLIT_DIRS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_IGNORED_DIRS = {"__MACOSX"}  # resource forks that macOS adds to zips; never a class
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')  # not allowed in Windows or POSIX file names


def find_layout(root: Path) -> dict[str, Path]:
    """Return {"train", "val", "test": folder} when root holds a train/ folder, else {"all": root}."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    dirs = _subdirs(root)
    if "train" not in dirs:
        _classes(root)
        return {"all": root}
    unexpected = sorted(set(dirs) - SPLIT_DIRS.keys())
    if unexpected:
        raise ValueError(
            f"{root}: unexpected folders {unexpected} beside train/; expected only val/ or validation/, test/"
        )
    if "val" in dirs and "validation" in dirs:
        raise ValueError(f"{root}: has both val/ and validation/; keep one")
    layout = {SPLIT_DIRS[name]: root / name for name in dirs}
    train_classes = set(_classes(layout["train"]))
    for folder in layout.values():
        extra = sorted(set(_classes(folder)) - train_classes)
        if extra:
            raise ValueError(f"{folder}: classes {extra} have no folder in {layout['train']}")
    return layout


def _subdirs(folder: Path) -> list[str]:
    names = (p.name for p in folder.iterdir() if p.is_dir())
    return sorted(n for n in names if not n.startswith(".") and n not in _IGNORED_DIRS)


def _classes(folder: Path) -> list[str]:
    """Return the class folder names in folder, checking there are at least two and none is empty."""
    classes = _subdirs(folder)
    if not classes:
        raise ValueError(f"{folder}: no class folders; expected one sub-folder of images per class")
    if len(classes) == 1:
        raise ValueError(f"{folder}: only one class folder ({classes[0]!r}); need at least 2")
    for name in classes:
        if not list_images(folder / name)[0]:
            raise ValueError(f"{folder}: class folder {name!r} contains no images")
    class_folder_names(folder, classes)
    return classes


def class_folder_names(where, classes: list[str]) -> list[str]:
    """Return the safe folder name of each class; raise if two would share one folder."""
    seen = {}
    for name in classes:
        # Case too: macOS and Windows file systems would merge "Cat" and "cat".
        other = seen.setdefault(safe_name(name).casefold(), name)
        if other != name:
            raise ValueError(f"{where}: classes {other!r} and {name!r} would share one folder; rename one")
    return [safe_name(name) for name in classes]


def copy_tree(layout: dict[str, Path], raw_dir: Path) -> list[Skipped]:
    """Link or copy every image to raw_dir/<class>/<flat name>; return the files skipped, with why.

    When the layout has source splits, raw_dir/source_splits.csv (relpath,split) records them.
    """
    raw_dir = Path(raw_dir)
    require_empty(raw_dir)
    has_splits = "all" not in layout
    root = layout["train"].parent if has_splits else layout["all"]
    images, skipped = list_images(root)
    depth = 2 if has_splits else 1  # path parts down to and including the class folder
    class_dirs = {folder / name for folder in layout.values() for name in _subdirs(folder)}
    taken, rows = set(), []
    for path in images:
        rel = path.relative_to(root)
        class_dir = root.joinpath(*rel.parts[:depth])
        if class_dir not in class_dirs:
            skipped.append(Skipped(str(path), "not inside a class folder"))
            continue
        # Nested folders are flattened into the name; the split prefix keeps train/ and val/ apart.
        name = "__".join(rel.parts[depth:])
        split = SPLIT_DIRS[rel.parts[0]] if has_splits else None
        target = _unique(raw_dir / safe_name(class_dir.name), safe_name(f"{split}-{name}" if split else name), taken)
        _link_or_copy(path, target)
        if split:
            rows.append((target.relative_to(raw_dir).as_posix(), split))
    if has_splits:
        write_source_splits(raw_dir, rows)
    return sorted(skipped, key=lambda s: s.path)


def require_empty(raw_dir: Path) -> None:
    """Raise unless raw_dir is missing or empty, so an import never mixes with an older one."""
    if raw_dir.exists() and any(raw_dir.iterdir()):
        raise FileExistsError(f"{raw_dir}: not empty; remove it before importing into it")


def safe_name(name: str) -> str:
    """Return name usable as a file name on any OS; non-ASCII letters are kept, NFC-normalised."""
    # macOS writes names decomposed (NFD); normalising keeps one spelling across platforms.
    name = _UNSAFE_CHARS.sub("_", unicodedata.normalize("NFC", name)).rstrip(" .")
    return "_" + name[1:] if name.startswith(".") else name or "_"


def _unique(folder: Path, name: str, taken: set) -> Path:
    """Return folder/name, numbered -2, -3... if taken; case-insensitively, for macOS and Windows."""
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 1
    while (folder.name.casefold(), candidate.casefold()) in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add((folder.name.casefold(), candidate.casefold()))
    return folder / candidate


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        # A hard link costs no space; raw files are never modified in place, so sharing is safe.
        os.link(src, dst)
    except OSError:  # another file system, or links not permitted
        shutil.copy2(src, dst)
