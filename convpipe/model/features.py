"""The frozen-base feature cache: train a frozen base's head on the base's features, computed once.

With a pretrained base frozen, every epoch would push every image through the base again, although
its output never changes (Deep Learning with Python's "fast feature extraction"). Here the model is
split at its "features" layer: the extractor (input → features) runs once over val, and once over
train when there is no augmentation; only the head (dropout → probabilities) trains. The head shares
its layers with the full model, so training it trains the full model, which is saved as before.
With augmentation each augmented train batch still goes through the base (in inference mode, as in
the full model), and only the head trains on the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from convpipe.data.shards import Epochs

FEATURES_LAYER = "features"  # the contract's embedding layer (architectures.py): the head starts after it


def split(model: tf.keras.Model) -> tuple[tf.keras.Model, tf.keras.Model] | None:
    """(extractor, head) when nothing up to and including `features` trains; None otherwise."""
    try:
        features = model.get_layer(FEATURES_LAYER)
    except ValueError:
        return None
    position = model.layers.index(features)
    before, after = model.layers[: position + 1], model.layers[position + 1 :]
    if any(layer.trainable_weights for layer in before) or not after:
        return None
    # The head must be a chain of single-input layers, as builders._head makes it.
    if any(isinstance(layer._inbound_nodes[0].inbound_layers, list) for layer in after):
        return None
    extractor = tf.keras.Model(model.inputs, features.output, name=f"{model.name}_extractor")
    inputs = tf.keras.Input(shape=features.output.shape[1:], name="features_in")
    x = inputs
    for layer in after:
        x = layer(x)
    return extractor, tf.keras.Model(inputs, x, name=f"{model.name}_head")


def compute(extractor: tf.keras.Model, batches) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of every image in `batches` of (pixels, labels), in order."""
    features, labels = [], []
    for images, batch_labels in batches:
        features.append(np.asarray(extractor(images, training=False), np.float32))
        labels.append(batch_labels.numpy())
    return np.concatenate(features), np.concatenate(labels)


def cached_dataset(features: np.ndarray, labels: np.ndarray, batch_size: int):
    """Batches of cached (features, labels)."""
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass(frozen=True)
class FeatureEpochs:
    """`Epochs` of features: epoch e's batches are the raw epoch e's batches (same order, same
    augmentation) through the extractor, so resume and determinism hold as for raw pixels."""

    raw: Epochs
    extractor: tf.keras.Model

    def key(self, number: int) -> int:
        return self.raw.key(number)

    def epoch(self, number: int):
        extractor = self.extractor

        @tf.function
        def extract(images):
            return extractor(images, training=False)

        # One batch at a time: a parallel map would run several copies of the base on two cores.
        return self.raw.epoch(number).map(lambda images, labels: (extract(images), labels))


def head_training(
    model: tf.keras.Model, train: Epochs, val_ds, batch_size: int
) -> tuple[tf.keras.Model, Epochs | FeatureEpochs, object] | None:
    """(head, its train epochs, its val batches) for `model`, or None when its base is not frozen.

    Val features are computed once. Train features are too when `train` has no augmentation: then
    the cached train examples are shuffled per epoch exactly as the raw ones would be.
    """
    parts = split(model)
    if parts is None:
        return None
    extractor, head = parts
    val_cached = cached_dataset(*compute(extractor, val_ds), batch_size)
    if train.augment is not None:
        return head, FeatureEpochs(train, extractor), val_cached
    # The raw examples' own order, through the base once, batch by batch.
    examples = train.examples.batch(batch_size).map(lambda images, labels: (tf.cast(images, tf.float32), labels))
    features, labels = compute(extractor, examples)
    cached = tf.data.Dataset.from_tensor_slices((features, labels))
    return head, Epochs(cached, train.count, train.shuffle_buffer, train.batch_size, train.seed), val_cached
