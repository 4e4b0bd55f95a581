"""Per-epoch training history as CSV (what Keras' CSVLogger writes); no TensorFlow here."""

from __future__ import annotations

import csv
from pathlib import Path

HISTORY_FILE = "history.csv"


def epochs_run(path: Path) -> list[dict]:
    """History rows, one per epoch (the last wins where a resumed run repeated an epoch)."""
    return list({row["epoch"]: row for row in read_history(path)}.values())


def write_history(rows: list[dict], path: Path) -> None:
    """History rows as CSV, epoch first, like CSVLogger writes them."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**row, "epoch": int(row["epoch"])} for row in rows)


def read_history(path: Path) -> list[dict]:
    """Rows of a CSVLogger history file, numbers as floats; none when no epoch ran."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
