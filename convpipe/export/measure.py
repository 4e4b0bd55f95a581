"""What reports/export.json holds for each artifact: accuracy and agreement on test, size, latency."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from convpipe.export import runtimes


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def size_bytes(path: Path) -> int:
    """File size, or the total of a folder's files."""
    return sum(p.stat().st_size for p in _files(Path(path)))


def gzip_bytes(path: Path) -> int:
    """Size after gzip (level 9) of the file, or of each file of a folder: what a download costs."""
    return sum(len(gzip.compress(p.read_bytes(), compresslevel=9, mtime=0)) for p in _files(Path(path)))


def quality(probabilities: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Accuracy, top-1 agreement and max probability difference against the float Keras model."""
    predicted = probabilities.argmax(axis=1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "agreement": float((predicted == reference.argmax(axis=1)).mean()),
        "max_abs_diff": float(np.abs(probabilities - reference).max()),
    }


def measure(path: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray, runs: int) -> dict:
    """One row of reports/export.json: quality on test, size, gzip size, latency and runtime."""
    artifact = runtimes.load(path)
    return {
        **quality(runtimes.predict_all(artifact.predict, images), labels, reference),
        "size_bytes": size_bytes(path),
        "gzip_bytes": gzip_bytes(path),
        **runtimes.latency_ms(artifact.predict, images[:1], runs),
        "runtime": artifact.runtime,
    }
