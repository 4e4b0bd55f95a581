"""Grad-CAM, filters, embeddings and t-SNE on tiny models whose answers are known."""

import numpy as np
import pytest
import tensorflow as tf

from convpipe.core.params import Model
from convpipe.evaluate import explain
from convpipe.model.builders import build_model
from convpipe.model.embedding import embedding_model


@pytest.fixture(autouse=True)
def seeded():
    """Each test builds untrained models: seeded, so their weights do not depend on which tests ran
    before. For some random initialisations no class score rises with the last feature map and
    Grad-CAM is all zero (two tests failed that way, depending on test order)."""
    tf.keras.utils.set_random_seed(0)


layers = tf.keras.layers


def evidence_model() -> tf.keras.Model:
    """Class 0's logit is the mean brightness, class 1's its negative: the evidence for 0 is the image itself."""
    inputs = tf.keras.Input((16, 16, 1))
    x = layers.AveragePooling2D(2)(inputs)
    x = layers.Conv2D(1, 1, use_bias=False, activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax", name="probabilities")(x)
    model = tf.keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([np.ones((1, 1, 1, 1))])
    model.get_layer("probabilities").set_weights([np.array([[1.0, -1.0]]), np.zeros(2)])
    return model


def blob(row: int, col: int) -> np.ndarray:
    image = np.zeros((16, 16, 1), np.float32)
    image[row : row + 4, col : col + 4] = 255.0
    return image


def nested_model() -> tf.keras.Model:
    """A pretrained-style base (its own model, ending in global pooling) under a new head."""
    base_in = tf.keras.Input((16, 16, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="inner_conv1")(base_in)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="inner_conv2")(x)
    base = tf.keras.Model(base_in, layers.GlobalAveragePooling2D()(x), name="base")
    inputs = tf.keras.Input((16, 16, 1))
    x = base(layers.Rescaling(1 / 255)(inputs))
    x = layers.Dropout(0.2)(x)
    return tf.keras.Model(inputs, layers.Dense(3, activation="softmax")(x))


def test_gradcam_heatmap_follows_the_evidence():
    model = evidence_model()
    images = np.stack([blob(0, 0), blob(12, 12)])
    heatmaps = explain.gradcam(model, images, np.array([0, 0]))
    assert heatmaps.shape == (2, 16, 16)
    assert heatmaps.min() >= 0 and heatmaps.max() == pytest.approx(1.0)
    # The blob moved from the top-left to the bottom-right corner, and the heatmap moved with it.
    assert heatmaps[0, :8, :8].sum() > 10 * heatmaps[0, 8:, 8:].sum()
    assert heatmaps[1, 8:, 8:].sum() > 10 * heatmaps[1, :8, :8].sum()
    # Brightness is evidence against class 1, so nothing in the image speaks for it.
    assert np.allclose(explain.gradcam(model, images, np.array([1, 1])), 0.0)


def test_gradcam_uses_the_last_conv_not_the_pooling_of_the_project_convnet():
    model = build_model(Model(arch="small_convnet", filters=[4, 8], dropout=0.5), (16, 16, 1), 3)
    path = explain.last_feature_map(model)
    assert len(path) == 1 and isinstance(path[0], layers.Conv2D) and path[0].filters == 8
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 1)).astype(np.float32)
    assert explain.gradcam(model, images, np.array([0, 1, 2])).shape == (3, 16, 16)


def test_gradcam_reaches_into_a_nested_base_model():
    model = nested_model()
    assert [layer.name for layer in explain.last_feature_map(model)] == ["base", "inner_conv2"]
    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 1)).astype(np.float32)
    heatmaps = explain.gradcam(model, images, np.array([0, 0]))
    assert heatmaps.shape == (2, 16, 16)
    assert not np.allclose(heatmaps[0], heatmaps[1])  # different inputs, different maps


def test_gradcam_needs_a_feature_map():
    inputs = tf.keras.Input((4,))
    with pytest.raises(ValueError, match="4-D"):
        explain.gradcam(tf.keras.Model(inputs, layers.Dense(2)(inputs)), np.zeros((1, 4)), np.array([0]))


def test_first_conv_kernel_and_embeddings():
    model = nested_model()
    assert explain.first_conv_kernel(model).shape == (3, 3, 1, 4)
    convnet = build_model(Model(arch="small_convnet", filters=[4, 8], dropout=0.5), (16, 16, 1), 3)
    assert explain.first_conv_kernel(convnet).shape == (3, 3, 1, 4)
    # The input of the classifier: the base's pooled 8 channels, and the convnet's flattened 8×8×8 map
    # (one MaxPooling between its two conv blocks halves 16×16 once).
    assert embedding_model(model).output_shape == (None, 8)
    assert embedding_model(convnet).output_shape == (None, 8 * 8 * 8)


def test_tsne_separates_clusters_and_is_seeded():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 1, (20, 32)), rng.normal(12, 1, (20, 32))])
    layout = explain.tsne_map(points, seed=3)
    assert layout.shape == (40, 2)
    assert np.array_equal(layout, explain.tsne_map(points, seed=3))
    centre_a, centre_b = layout[:20].mean(axis=0), layout[20:].mean(axis=0)
    spread = max(
        np.linalg.norm(layout[:20] - centre_a, axis=1).max(), np.linalg.norm(layout[20:] - centre_b, axis=1).max()
    )
    assert np.linalg.norm(centre_a - centre_b) > spread


def test_gradcam_through_a_keras_applications_base_with_preprocessing_layers():
    # A grayscale input is repeated to RGB and scaled by TF-op layers before the nested base.
    model = build_model(
        Model(arch="mobilenet_v2", filters=[8], dropout=0.0, weights="none", alpha=0.35), (32, 32, 1), 3
    )
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype(np.float32)
    heatmaps = explain.gradcam(model, images, np.array([0, 2]))
    assert heatmaps.shape == (2, 32, 32)
    assert 0.0 <= heatmaps.min() and heatmaps.max() <= 1.0 and heatmaps.max() > 0.0
