"""Deterministic, stratified, growth-stable train/val/test assignment by content hash."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from convpipe.data.images import Skipped, file_sha256, list_images

SPLITS = ("train", "val", "test")
MANIFEST_FIELDS = ("path", "label", "sha256")


@dataclass(frozen=True)
class Record:
    path: str
    label: str
    sha256: str


def unit_hash(seed: int | str, sha256: str) -> float:
    """A number in [0, 1) fixed by the seed and the image content alone."""
    digest = hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def scan(raw_dir: Path, ignore: set[str] = frozenset()) -> tuple[list[Record], list[Skipped]]:
    """Hash every image under raw_dir/<class>/; files outside class folders are skipped."""
    paths, skipped = list_images(raw_dir)
    skipped = [s for s in skipped if Path(s.path).relative_to(raw_dir).as_posix() not in ignore]
    records = []
    for path in paths:
        relative = path.relative_to(raw_dir)
        if len(relative.parts) < 2:
            skipped.append(Skipped(str(path), "not inside a class folder"))
            continue
        records.append(Record(str(path), relative.parts[0], file_sha256(path)))
    return records, skipped


def deduplicate(records: list[Record]) -> tuple[list[Record], list[Skipped]]:
    """Keep one copy of identical files; drop content that appears under two labels."""
    by_hash: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_hash[record.sha256].append(record)
    kept, skipped = [], []
    for copies in by_hash.values():
        labels = sorted({r.label for r in copies})
        if len(labels) > 1:
            skipped += [Skipped(r.path, f"label conflict: same image under {labels}") for r in copies]
            continue
        first, *rest = sorted(copies, key=lambda r: r.path)
        kept.append(first)
        skipped += [Skipped(r.path, f"duplicate of {first.path}") for r in rest]
    return sorted(kept, key=lambda r: r.path), skipped


def assign(
    records: list[Record],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    max_per_class: int | None = None,
    fixed: dict[str, str] | None = None,
    groups: list[list[Record]] = (),
) -> dict[str, list[Record]]:
    """Split each class by content hash, so adding images never moves the existing ones.

    `fixed` maps paths to the split their source gave them; splits the source has are kept as given,
    and the ones it lacks are drawn by hash from its train part. Each of `groups` (near-duplicates) lands
    in one split: the most held-out split any member is fixed to (test, then val), else the split drawn
    by the hash of its smallest member's sha256.
    """
    fixed = dict(fixed or {})
    given = set(fixed.values())
    key = {r.path: r.sha256 for r in records}
    for members in groups:
        smallest = min(r.sha256 for r in members)
        held_out = [s for s in ("test", "val") if any(fixed.get(r.path) == s for r in members)]
        for record in members:
            key[record.path] = smallest
            if held_out:
                fixed[record.path] = held_out[0]
    grouped = {r.path for members in groups for r in members}
    by_label: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_label[record.label].append(record)
    splits: dict[str, list[Record]] = {name: [] for name in SPLITS}
    for label, members in sorted(by_label.items()):
        # The sample kept under max_per_class is drawn by a second hash: cutting the list sorted by the
        # split hash would keep only its lowest values, which all fall in test.
        members.sort(key=lambda r: (unit_hash(f"sample:{seed}", key[r.path]), r.path))
        members = members[:max_per_class]
        if len(members) < len(SPLITS):
            raise ValueError(
                f"class {label!r} has {len(members)} image(s); at least {len(SPLITS)} are "
                "needed to give train, val and test one each"
            )
        parts = {name: [] for name in SPLITS}
        for record in members:
            parts[
                _split_of(record, unit_hash(seed, key[record.path]), fixed, given, val_fraction, test_fraction)
            ].append(record)
        _fill_empty(parts, grouped)
        for name in SPLITS:
            splits[name] += parts[name]
    return {name: sorted(rs, key=lambda r: r.path) for name, rs in splits.items()}


def _split_of(
    record: Record, u: float, fixed: dict[str, str], given: set[str], val_fraction: float, test_fraction: float
) -> str:
    source_split = fixed.get(record.path, "train")
    if source_split != "train":
        return source_split
    if "test" not in given and u < test_fraction:
        return "test"
    if "val" not in given and test_fraction <= u < test_fraction + val_fraction:
        return "val"
    return "train"


def _fill_empty(parts: dict[str, list[Record]], grouped: set[str] = frozenset()) -> None:
    # A small class can leave a split empty by chance; lend it one image from the largest split
    # so that every class is seen by every split. The loan is an image without near-duplicates when
    # there is one, so that no group is torn apart.
    for name in SPLITS:
        if not parts[name]:
            donor = parts[max(SPLITS, key=lambda n: len(parts[n]))]
            alone = [i for i, r in enumerate(donor) if r.path not in grouped]
            parts[name].append(donor.pop(alone[-1] if alone else -1))


def write_manifest(records: list[Record], path: Path) -> None:
    """One CSV row per image: path, label, sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_FIELDS)
        writer.writerows((r.path, r.label, r.sha256) for r in records)


def read_manifest(path: Path) -> list[Record]:
    """Records of a manifest written by write_manifest."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [Record(row["path"], row["label"], row["sha256"]) for row in csv.DictReader(handle)]
