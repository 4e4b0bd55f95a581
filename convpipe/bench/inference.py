"""Latency at batch 1 and throughput at batch 32 of every exported artifact, on the test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convpipe.core.paths import load_paths
from convpipe.data import shards
from convpipe.export import runtimes
from convpipe.export.formats import FORMATS
from convpipe.model.saved import MODEL_FILE

BATCH = 32


def inference(repo: Path, runs: int = 100) -> dict:
    """Per artifact: p50/p95 batch-1 latency (ms) over `runs` and images/s at batch 32."""
    paths = load_paths(repo / "dvc.yaml")
    x, _ = shards.arrays(repo / paths.prepared, "test")
    artifacts = {"keras": repo / paths.finetune / MODEL_FILE}
    artifacts |= {name: repo / paths.export / fmt.file for name, fmt in FORMATS.items()}
    table = {}
    for name, path in artifacts.items():
        if not path.exists():
            continue
        artifact = runtimes.load(path)
        latency = runtimes.latency_ms(artifact.predict, x, runs, warmup=5)
        rate = runtimes.throughput(artifact.predict, np.resize(x, (BATCH, *x.shape[1:])))
        table[name] = {
            "runtime": artifact.runtime,
            "p50_ms": round(latency["latency_ms"], 3),
            "p95_ms": round(latency["latency_p95_ms"], 3),
            "batch32_images_per_s": round(rate, 1),
        }
    return table
