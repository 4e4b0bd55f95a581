"""The raw image folder's bookkeeping files, beside the class folders: what a source reported."""

from __future__ import annotations

import csv
import json
from pathlib import Path

DOWNLOAD_REPORT = "download.json"  # source, class counts, files skipped while importing
SOURCE_SPLITS_CSV = "source_splits.csv"  # relpath,split for a source that came already split
METADATA_FILES = frozenset({DOWNLOAD_REPORT, SOURCE_SPLITS_CSV})


def write_download_report(raw_dir: Path, report: dict) -> None:
    """Save what the download stage found."""
    with open(Path(raw_dir) / DOWNLOAD_REPORT, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, ensure_ascii=False)


def read_download_report(raw_dir: Path) -> dict:
    """What the download stage wrote: source, counts and skipped files."""
    with open(Path(raw_dir) / DOWNLOAD_REPORT, encoding="utf-8") as handle:
        return json.load(handle)


def write_source_splits(raw_dir: Path, rows: list[tuple[str, str]]) -> None:
    """Write raw_dir/source_splits.csv: one relpath,split row per image the source assigned a split."""
    with open(Path(raw_dir) / SOURCE_SPLITS_CSV, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["relpath", "split"])
        writer.writerows(rows)


def read_source_splits(raw_dir: Path) -> dict[str, str]:
    """{image path: split} from a source that came split, or {} when it did not."""
    path = Path(raw_dir) / SOURCE_SPLITS_CSV
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {str(Path(raw_dir) / row["relpath"]): row["split"] for row in csv.DictReader(handle)}
