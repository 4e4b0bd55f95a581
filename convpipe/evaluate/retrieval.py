"""Nearest-neighbour search over L2-normalised embeddings with FAISS: build, save, load, search, score, time.

Cosine similarity is the inner product of unit vectors, so every index is an inner-product one: exact
(IndexFlatIP) up to `exact_max` vectors, approximate (HNSW graph) above.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from convpipe.core.text import first_line

INDEX_FILE = "index.faiss"
ITEMS_FILE = "items.csv"  # one row per indexed vector, in index order: path, label
INFO_FILE = "index.json"  # kind, dimensions, count, and the preprocessing its images went through
EMBEDDER_FILE = "embedder.keras"  # the model mapping pixels to the indexed embeddings


@dataclass(frozen=True)
class SearchIndex:
    """An index ready to search, with what each of its vectors is and how queries must be prepared."""

    index: faiss.Index
    paths: list[str]
    labels: list[str]
    info: dict


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, flattened); zero rows stay zero."""
    flat = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1))
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return flat / np.where(norms > 0, norms, 1)


def build(
    vectors: np.ndarray, exact_max: int, hnsw_neighbors: int = 32, ef_search: int = 128, ef_construction: int = 200
) -> faiss.Index:
    """An inner-product index over unit vectors: exact when there are at most exact_max, else HNSW."""
    vectors = normalise(vectors)
    dim = vectors.shape[1]
    if len(vectors) <= exact_max:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    index.add(vectors)
    return index


def kind(index: faiss.Index) -> str:
    """'exact' or 'hnsw'."""
    return "hnsw" if isinstance(index, faiss.IndexHNSW) else "exact"


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, ids) of the k nearest vectors per query, best first; ids -1 past the index's size."""
    return index.search(normalise(queries), min(k, index.ntotal))


def save(out_dir: Path, index: faiss.Index, paths: list[str], labels: list[str], info: dict) -> None:
    """The index, its items (path, label per vector) and info.json in out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(out_dir / INDEX_FILE))
    with open(out_dir / ITEMS_FILE, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("path", "label"))
        writer.writerows(zip(paths, labels))
    with open(out_dir / INFO_FILE, "w", encoding="utf-8") as handle:
        json.dump({"kind": kind(index), "dimensions": index.d, "count": index.ntotal, **info}, handle, indent=2)


def require(index_dir: Path | str) -> Path:
    """`index_dir` once it holds every file save() writes; FileNotFoundError naming the first missing one."""
    index_dir = Path(index_dir)
    for name in (INDEX_FILE, ITEMS_FILE, INFO_FILE):
        if not (index_dir / name).is_file():
            raise FileNotFoundError(f"{index_dir / name}: not found (run the index stage: dvc repro index)")
    return index_dir


def load(index_dir: Path) -> SearchIndex:
    """What save() wrote, with a message naming a missing or unreadable file."""
    index_dir = require(index_dir)
    try:
        with open(index_dir / ITEMS_FILE, newline="", encoding="utf-8") as handle:
            rows = [(row["path"], row["label"]) for row in csv.DictReader(handle)]
    except (ValueError, KeyError, csv.Error) as err:
        raise ValueError(f"{index_dir / ITEMS_FILE}: not the path,label CSV the index stage writes ({err!r})") from None
    try:
        with open(index_dir / INFO_FILE, encoding="utf-8") as handle:
            info = json.load(handle)
    except ValueError as err:
        raise ValueError(f"{index_dir / INFO_FILE}: not valid JSON: {err}") from None
    try:
        index = faiss.read_index(str(index_dir / INDEX_FILE))
    except RuntimeError as err:  # FAISS reports a truncated or foreign file this way, with its C++ location
        raise ValueError(f"{index_dir / INDEX_FILE}: not a readable FAISS index: {first_line(str(err), 300)}") from None
    if not isinstance(info, dict):
        raise ValueError(f"{index_dir / INFO_FILE}: expected a JSON object, got a {type(info).__name__}")
    if index.ntotal != len(rows):
        raise ValueError(f"{index_dir / ITEMS_FILE}: {len(rows)} rows for an index of {index.ntotal} vectors")
    return SearchIndex(index, [path for path, _ in rows], [label for _, label in rows], info)


def knn_vote(neighbour_labels: np.ndarray, similarities: np.ndarray) -> np.ndarray:
    """The majority label among each row's neighbours; ties go to the label with the larger summed similarity."""
    predicted = []
    for labels, sims in zip(neighbour_labels, similarities):
        votes: dict = {}
        for label, sim in zip(labels, sims):
            count, total = votes.get(label, (0, 0.0))
            votes[label] = (count + 1, total + float(sim))
        predicted.append(max(votes, key=votes.get))
    return np.array(predicted)


def retrieval_metrics(
    query_labels: np.ndarray, neighbour_labels: np.ndarray, similarities: np.ndarray, relevant_counts: np.ndarray
) -> dict[str, float]:
    """precision@k, mAP@k and k-NN accuracy for queries whose k neighbours (best first) have the given labels.

    A neighbour is relevant when it has the query's label. AP@k = Σ_i precision@i · rel_i / min(k, R), where R
    is how many indexed items share the query's label.
    """
    k = neighbour_labels.shape[1]
    relevant = neighbour_labels == np.asarray(query_labels)[:, None]
    precision_at = np.cumsum(relevant, axis=1) / np.arange(1, k + 1)
    denominators = np.maximum(np.minimum(k, relevant_counts), 1)
    average_precision = (precision_at * relevant).sum(axis=1) / denominators
    return {
        "k": k,
        "precision_at_k": float(relevant.mean()),
        "map_at_k": float(average_precision.mean()),
        "knn_accuracy": float((knn_vote(neighbour_labels, similarities) == query_labels).mean()),
        "queries": len(query_labels),
    }


def query_metrics(index: SearchIndex, query_labels: list[str], similarities: np.ndarray, ids: np.ndarray) -> dict:
    """retrieval_metrics() of queries with known labels against what the index holds, and the index's kind."""
    indexed = np.array(index.labels, dtype=object)
    relevant = np.array([(indexed == label).sum() for label in query_labels])
    neighbours = np.where(ids >= 0, indexed[ids], None)  # HNSW may return fewer than k: -1, never relevant
    return {
        **retrieval_metrics(np.array(query_labels, dtype=object), neighbours, similarities, relevant),
        "index": index.info["kind"],
        "indexed_images": index.index.ntotal,
    }
