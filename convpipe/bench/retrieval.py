"""The embedding index at sizes the default pipeline never reaches: build and query times, HNSW's recall."""

from __future__ import annotations

import time

import faiss
import numpy as np

from convpipe.evaluate.retrieval import build, search


def benchmark(
    sizes: tuple[int, ...] = (20_000, 100_000),
    dim: int = 128,
    seed: int = 0,
    queries: int = 1_000,
    k: int = 10,
    hnsw_neighbors: int = 32,
    ef_search: int = 128,
    ef_construction: int = 200,
) -> dict:
    """Build and query times of the exact and the HNSW index on synthetic vectors, and HNSW's recall@k against
    exact search: {..settings.., "sizes": {size: {"exact": {...}, "hnsw": {...}}}}. Prints nothing.

    The vectors are clustered like a classifier's embeddings (one centre per 200 vectors, spread as wide as the
    centres themselves); queries are new draws from the same clusters, not copies of indexed vectors.
    """
    rng = np.random.default_rng(seed)
    results = {}
    for size in sizes:
        centres = rng.standard_normal((max(size // 200, 1), dim)).astype(np.float32)

        def draw(count: int, centres: np.ndarray = centres) -> np.ndarray:
            noise = rng.standard_normal((count, dim)).astype(np.float32)
            return centres[rng.integers(0, len(centres), count)] + noise

        data, query = draw(size), draw(queries)
        row, truth = {}, None
        for name, exact_max in (("exact", size), ("hnsw", 0)):
            start = time.perf_counter()
            index = build(data, exact_max, hnsw_neighbors, ef_search, ef_construction)
            built = time.perf_counter() - start
            start = time.perf_counter()
            _, ids = search(index, query, k)
            batch = time.perf_counter() - start
            start = time.perf_counter()
            for q in query[:100]:
                search(index, q[None], k)
            single = (time.perf_counter() - start) / 100
            truth = ids if truth is None else truth
            recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(ids, truth)])
            row[name] = {
                "build_s": built,
                "query_batch_s": batch,
                "query_batch_per_query_ms": 1000 * batch / queries,
                "query_single_ms": 1000 * single,
                f"recall_at_{k}": float(recall),
            }
        results[size] = row
    return {
        "dim": dim,
        "queries": queries,
        "k": k,
        "hnsw_neighbors": hnsw_neighbors,
        "ef_search": ef_search,
        "ef_construction": ef_construction,
        "threads": faiss.omp_get_max_threads(),
        "sizes": results,
    }
