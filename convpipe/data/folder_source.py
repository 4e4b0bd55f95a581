"""Read a folder of class folders, optionally split into train/val/test, into the raw layout.

What is imported: regular files, and symlinks that resolve to a regular file inside the source folder (their
target's content, under the link's name). Everything else is skipped and reported with its reason: a link that
points outside the folder (its content would land in the DVC cache and on the team's remote), a dangling link, a
link loop, a FIFO, socket or device. A name that is not UTF-8, or too long to store with its split prefix, is stored
under a safe name and reported beside the original.
"""

import hashlib
import os
import re
import shutil
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from convpipe.core.text import printable_path
from convpipe.data.images import Skipped, list_images
from convpipe.data.layout import write_source_splits

SPLIT_DIRS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_IGNORED_DIRS = {"__MACOSX"}  # resource forks that macOS adds to zips; never a class
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')  # not allowed in Windows or POSIX file names
# Bytes (UTF-8) a stored name may take: file systems allow 255, and DVC adds a temporary suffix of about 40
# while it links files into the workspace.
MAX_NAME_BYTES = 150


@dataclass(frozen=True)
class Renamed:
    """A file stored under another name than its own: its name is not UTF-8, or too long to store."""

    path: str  # the original, with bytes that are not UTF-8 shown as \xNN
    stored_as: str  # relative to the raw folder


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


def copy_tree(layout: dict[str, Path], raw_dir: Path) -> tuple[list[Skipped], list[Renamed]]:
    """Link or copy every image to raw_dir/<class>/<flat name>; return the files skipped (with why) and those
    stored under another name.

    When the layout has source splits, raw_dir/source_splits.csv (relpath,split) records them.
    """
    raw_dir = Path(raw_dir)
    require_empty(raw_dir)
    has_splits = "all" not in layout
    root = layout["train"].parent if has_splits else layout["all"]
    images, skipped = list_images(root)
    depth = 2 if has_splits else 1  # path parts down to and including the class folder
    class_dirs = {folder / name for folder in layout.values() for name in _subdirs(folder)}
    taken, rows, renamed, imported = set(), [], [], {}
    inside = root.resolve()
    for path in images:
        rel = path.relative_to(root)
        class_dir = root.joinpath(*rel.parts[:depth])
        if class_dir not in class_dirs:
            skipped.append(Skipped(printable_path(path), "not inside a class folder"))
            continue
        content, why = regular_file(path, inside)
        if why:
            skipped.append(Skipped(printable_path(path), why))
            continue
        # Nested folders are flattened into the name; the split prefix keeps train/ and val/ apart.
        name = "__".join(rel.parts[depth:])
        split = SPLIT_DIRS[rel.parts[0]] if has_splits else None
        wanted = f"{split}-{name}" if split else name
        stored = storable_name(wanted)
        target = _unique(raw_dir / safe_name(class_dir.name), stored, taken)
        _link_or_copy(content, target)
        imported[class_dir.name] = imported.get(class_dir.name, 0) + 1
        if stored != safe_name(wanted) or printable_path(path) != str(path):  # shortened, or not UTF-8
            renamed.append(Renamed(printable_path(path), target.relative_to(raw_dir).as_posix()))
        if split:
            rows.append((target.relative_to(raw_dir).as_posix(), split))
    empty = sorted({d.name for d in class_dirs} - set(imported))
    if empty:
        raise ValueError(
            f"{root}: class folder(s) {', '.join(map(printable_path, empty))} hold no file that can be imported "
            "(links out of the folder, dangling links and special files are skipped)"
        )
    if has_splits:
        write_source_splits(raw_dir, rows)
    return sorted(skipped, key=lambda s: s.path), renamed


def regular_file(path: Path, inside: Path) -> tuple[Path | None, str | None]:
    """The regular file to import for `path` (itself, or where its symlink resolves within `inside`), or why not."""
    try:
        target = path.resolve(strict=True)
        mode = target.stat().st_mode
    except FileNotFoundError:
        return None, "dangling symlink"
    except (RuntimeError, OSError) as err:  # 3.11 reports a loop as RuntimeError, later versions as ELOOP
        return None, "symlink loop" if "loop" in str(err).lower() else f"cannot read: {err.strerror or err}"
    if path.is_symlink() and not target.is_relative_to(inside):
        return None, f"symlink to {printable_path(target)}, outside the source folder"
    if not stat.S_ISREG(mode):
        kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
        return None, f"not a regular file ({kinds.get(stat.S_IFMT(mode), 'a special file')})"
    return target, None


def storable_name(name: str) -> str:
    """safe_name(name), shortened to MAX_NAME_BYTES with a hash of the whole name when it is longer."""
    safe = safe_name(name)
    if len(safe.encode("utf-8")) <= MAX_NAME_BYTES:
        return safe
    stem, suffix = os.path.splitext(safe)
    suffix = suffix if len(suffix) <= 10 else ""
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:12]
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8")) - len(digest) - 1
    short = stem.encode("utf-8")[:room].decode("utf-8", "ignore")  # never half a character
    return f"{short}-{digest}{suffix}"


def require_empty(raw_dir: Path) -> None:
    """Raise unless raw_dir is missing or empty, so an import never mixes with an older one."""
    if raw_dir.exists() and any(raw_dir.iterdir()):
        raise FileExistsError(f"{raw_dir}: not empty; remove it before importing into it")


def safe_name(name: str) -> str:
    """Return name usable as a file name on any OS; non-ASCII letters are kept, NFC-normalised, and a byte that
    is not UTF-8 becomes _xNN."""
    # macOS writes names decomposed (NFD); normalising keeps one spelling across platforms.
    name = _UNSAFE_CHARS.sub("_", unicodedata.normalize("NFC", printable_path(name))).rstrip(" .")
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
