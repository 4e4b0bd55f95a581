"""The label-issue finder: pixel features and out-of-sample probabilities recover flipped digit labels."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from convpipe.evaluate import label_issues


@pytest.fixture(scope="module")
def flipped():
    """The digits at 16×16 (as the pipeline resizes them), 5% of their labels flipped to another class."""
    digits = load_digits()
    pixels = np.kron(digits.images, np.ones((2, 2)))[..., None] * 16
    labels = digits.target.copy()
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(labels), int(0.05 * len(labels)), replace=False)
    labels[chosen] = (labels[chosen] + rng.integers(1, 10, len(chosen))) % 10
    return pixels, labels, set(chosen.tolist())


def test_pixel_features_and_the_finder_recover_flipped_labels(flipped):
    pixels, labels, chosen = flipped
    features = label_issues.pixel_features(pixels, seed=42)
    assert features.shape == (len(pixels), label_issues.RBF_COMPONENTS)
    probabilities = label_issues.out_of_sample_probabilities(features, labels, seed=42)
    ranked = label_issues.find(probabilities, labels)
    k = len(chosen)
    assert len(set(ranked[: 2 * k].tolist()) & chosen) / k >= 0.8  # recall in the top 2k
    assert len(set(ranked[:k].tolist()) & chosen) / k >= 0.8  # precision of the top k


def test_a_class_with_one_image_cannot_be_cross_validated():
    with pytest.raises(ValueError, match="at least 2"):
        label_issues.out_of_sample_probabilities(np.zeros((3, 2)), np.array([0, 0, 1]), seed=0)


def test_suspects_summary_and_the_files_round_trip(tmp_path):
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    labels = np.array([0, 0, 1])
    found = label_issues.suspects(
        np.array([2, 1]), probabilities, labels, ["ant", "bee"], ["bee/c.jpg", "ant/b.jpg", "x"], ["train", "val", "x"]
    )
    assert [(s.rank, s.path, s.given_label, s.suggested_label) for s in found] == [
        (1, "x", "bee", "ant"),
        (2, "ant/b.jpg", "ant", "bee"),
    ]
    assert found[0].self_confidence == 0.3
    counts = label_issues.summary(found, 3, ["ant", "bee"], "pixels")
    assert counts == {
        "total": 2,
        "checked": 3,
        "fraction": 0.6667,
        "per_class": {"ant": 1, "bee": 1},
        "features": "pixels",
    }
    label_issues.write(found, counts, tmp_path)
    assert label_issues.read(tmp_path) == (found, counts)


def test_reading_a_missing_report_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"label_issues\.csv: not found \(run `dvc repro`"):
        label_issues.read(tmp_path)


def test_base_features_of_a_bfloat16_model_are_float32_for_sklearn(tmp_path):
    """A model trained under mixed_bfloat16 (precision auto on AMX CPUs) returns bfloat16 features, which sklearn
    refuses ("dtype='numeric' is not compatible with arrays of bytes/strings"): label_check must hand it float32."""
    import tensorflow as tf

    from convpipe.model import precision
    from stages.label_check import base_features

    precision.use("mixed_bfloat16")
    try:
        inputs = tf.keras.Input((8, 8, 3))
        pooled = tf.keras.layers.GlobalAveragePooling2D(name="features")(tf.keras.layers.Conv2D(4, 3)(inputs))
        model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, dtype="float32")(pooled))
        assert model(np.zeros((1, 8, 8, 3), np.float32)).dtype == tf.float32
        assert model.get_layer("features").compute_dtype == "bfloat16"
        model.save(tmp_path / "model.keras")
    finally:
        precision.use("float32")
    features = base_features(tmp_path / "model.keras", np.random.default_rng(0).uniform(0, 255, (10, 8, 8, 3)))
    assert features.dtype == np.float32 and features.shape == (10, 4)
    probabilities = label_issues.out_of_sample_probabilities(features, np.arange(10) % 2, seed=0)
    assert probabilities.shape == (10, 2)
