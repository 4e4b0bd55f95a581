"""The embedding index: exact and HNSW agree, save/load round trip, and the retrieval metrics by hand."""

import numpy as np
import pytest

from convpipe.evaluate import retrieval


def clustered(count: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    return (centres[rng.integers(0, 20, count)] + rng.standard_normal((count, dim))).astype(np.float32)


def test_approximate_and_exact_agree_on_the_top_10():
    vectors, queries = clustered(4000), clustered(300, seed=1)
    # Gaussian blobs as wide as they are apart in 64 dimensions: harder than real embeddings. The defaults
    # (params.yaml index: 32 links, ef_search 128, ef_construction 200) reach 0.986 here.
    exact, approximate = retrieval.build(vectors, exact_max=10_000), retrieval.build(vectors, exact_max=1000)
    assert (retrieval.kind(exact), retrieval.kind(approximate)) == ("exact", "hnsw")
    _, truth = retrieval.search(exact, queries, 10)
    _, found = retrieval.search(approximate, queries, 10)
    agreement = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
    assert agreement >= 0.95


def test_similarities_are_cosines_and_a_vector_finds_itself_first():
    vectors = clustered(500)
    similarities, ids = retrieval.search(retrieval.build(vectors, exact_max=1000), vectors[:50] * 3.0, 3)
    assert list(ids[:, 0]) == list(range(50))
    assert np.allclose(similarities[:, 0], 1.0, atol=1e-5)
    assert (np.diff(similarities, axis=1) <= 1e-6).all()


def test_save_and_load_round_trip(tmp_path):
    built = retrieval.build(clustered(100), exact_max=10, ef_search=77)
    retrieval.save(tmp_path, built, [f"p{i}.png" for i in range(100)], ["a", "b"] * 50, {"color_mode": "rgb"})
    loaded = retrieval.load(tmp_path)
    assert loaded.index.ntotal == 100 and loaded.paths[3] == "p3.png" and loaded.labels[3] == "b"
    assert loaded.info["kind"] == "hnsw" and loaded.info["color_mode"] == "rgb"
    assert loaded.index.hnsw.efSearch == 77  # the file keeps the search setting


def test_a_missing_index_names_the_file_and_the_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"index\.faiss: not found \(run the index stage"):
        retrieval.load(tmp_path)


def test_retrieval_metrics_by_hand():
    neighbours = np.array([["a", "b", "a"], ["b", "b", "a"]])
    similarities = np.array([[0.9, 0.8, 0.7], [0.9, 0.8, 0.7]])
    scores = retrieval.retrieval_metrics(np.array(["a", "a"]), neighbours, similarities, np.array([5, 1]))
    assert scores["precision_at_k"] == pytest.approx(3 / 6)
    # AP@3: query 1 (1/1 + 2/3) / min(3, 5); query 2 (1/3) / min(3, 1).
    assert scores["map_at_k"] == pytest.approx(((1 + 2 / 3) / 3 + 1 / 3) / 2)
    assert scores["knn_accuracy"] == 0.5  # majority votes: a, then b


def test_knn_ties_go_to_the_larger_summed_similarity():
    assert list(retrieval.knn_vote(np.array([["a", "b"]]), np.array([[0.5, 0.9]]))) == ["b"]


def test_missing_neighbours_count_as_not_relevant():
    loaded = retrieval.SearchIndex(
        retrieval.build(clustered(3), exact_max=10), ["p0", "p1", "p2"], ["a", "b", "b"], {"kind": "hnsw"}
    )
    scores = retrieval.query_metrics(loaded, ["b"], np.array([[0.9, 0.8, -np.inf]]), np.array([[1, 2, -1]]))
    assert scores["precision_at_k"] == pytest.approx(2 / 3) and scores["map_at_k"] == pytest.approx(1.0)
    assert scores["knn_accuracy"] == 1.0


def test_the_index_benchmark_times_both_kinds_and_measures_recall():
    from convpipe.bench.retrieval import benchmark

    figures = benchmark(sizes=(400,), dim=8, queries=20, k=5)
    row = figures["sizes"][400]
    assert set(row) == {"exact", "hnsw"}
    assert row["exact"]["recall_at_5"] == 1.0 and 0.5 <= row["hnsw"]["recall_at_5"] <= 1.0
    assert all(measured["build_s"] >= 0 for measured in row.values())
