"""Latency at batch 1 and throughput at batch 32 of every exported artifact, on the test split."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from convpipe import params as params_module
from convpipe import runners
from convpipe.data import records
from convpipe.export import ARTIFACT_FILES

BATCH = 32


def inference(repo: Path, runs: int = 100) -> dict:
    """Per artifact: p50/p95 batch-1 latency (ms) over `runs` and images/s at batch 32."""
    params = params_module.load(repo / "params.yaml")
    x, _ = records.arrays(repo / params.paths.prepared, "test")
    batch = np.resize(x, (BATCH, *x.shape[1:]))
    artifacts = {"keras": repo / params.paths.finetune / "model.keras"}
    artifacts |= {name: repo / params.paths.export / file for name, file in ARTIFACT_FILES.items()}
    table = {}
    for name, path in artifacts.items():
        if not Path(path).exists():
            continue
        loaded = runners.load(path)
        for image in x[:5]:  # warm-up: first calls allocate and trace
            loaded.predict(image[None])
        single = []
        for image in x[np.arange(runs) % len(x)]:
            start = time.perf_counter()
            loaded.predict(image[None])
            single.append((time.perf_counter() - start) * 1000)
        loaded.predict(batch)
        start, rounds = time.perf_counter(), 0
        while rounds < 5 or time.perf_counter() - start < 1.0:
            loaded.predict(batch)
            rounds += 1
        table[name] = {"runtime": loaded.runtime, "p50_ms": round(float(np.percentile(single, 50)), 3),
                       "p95_ms": round(float(np.percentile(single, 95)), 3),
                       "batch32_images_per_s": round(rounds * BATCH / (time.perf_counter() - start), 1)}
    return table
