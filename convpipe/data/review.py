"""Acting on a label review: data.exclude (paths left out) and data.relabel (path → label), applied at split time.

Both files live in REVIEW_DIR, a folder the split stage depends on (DVC cannot make a dependency of a params
value), so editing a file re-runs split; the user's source folder is never touched. Paths are relative to the
raw folder, as reports/label_issues.csv lists them.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from convpipe.data.split import Record

REVIEW_DIR = Path("data/review")
MAX_ROWS = 1_000_000


def _rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found (named by params.yaml)") from None
    if len(rows) > MAX_ROWS:
        raise ValueError(f"{path}: more than {MAX_ROWS} rows")
    return [[cell.strip() for cell in row] for row in rows]


def read_exclude(path: Path) -> list[str]:
    """Paths to leave out: a CSV with a `path` column (e.g. a reviewed label_issues.csv) or one path a line."""
    rows = _rows(path)
    if rows and "path" in rows[0]:
        column = rows[0].index("path")
        return [row[column] for row in rows[1:] if len(row) > column and row[column]]
    return [row[0] for row in rows]


def read_relabel(path: Path) -> dict[str, str]:
    """{path: new label} from a CSV of path,label rows (a `path,label` header is allowed)."""
    rows = _rows(path)
    if rows and rows[0][:2] == ["path", "label"]:
        rows = rows[1:]
    relabel = {}
    for number, row in enumerate(rows, 1):
        if len(row) < 2 or not row[1]:
            raise ValueError(f"{path}: row {number} {','.join(row)!r}: expected path,label")
        relabel[row[0]] = row[1]
    return relabel


def apply(
    records: list[Record], raw_dir: Path, exclude: list[str], relabel: dict[str, str], sources: tuple[str, str]
) -> tuple[list[Record], dict]:
    """`records` without the excluded paths and with the relabelled ones' new labels; what was done, for data.json.

    A path not found among the records, or a label that is not a class, is an error naming the file and the path.
    """
    by_path = {Path(r.path).relative_to(raw_dir).as_posix(): r for r in records}
    classes = {r.label for r in records}
    for listed, source in ((exclude, sources[0]), (list(relabel), sources[1])):
        for path in listed:
            if path not in by_path:
                raise ValueError(f"{source}: {path!r} is not an image of the data (paths are relative to {raw_dir})")
    for path, label in relabel.items():
        if label not in classes:
            raise ValueError(f"{sources[1]}: {path!r} → {label!r} is not a class ({', '.join(sorted(classes))})")
    dropped = set(exclude)
    kept = [
        replace(record, label=relabel.get(path, record.label))
        for path, record in by_path.items()
        if path not in dropped
    ]
    changed = [
        {"path": path, "from": by_path[path].label, "to": label}
        for path, label in sorted(relabel.items())
        if path not in dropped and label != by_path[path].label
    ]
    done = {"excluded": len(dropped), "relabelled": len(changed), "excluded_paths": sorted(dropped), "changes": changed}
    return sorted(kept, key=lambda r: r.path), done
