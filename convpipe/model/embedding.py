"""The classifier's penultimate representation: what the index stage searches and t-SNE draws."""

from __future__ import annotations

import tensorflow as tf


def embedding_model(model: tf.keras.Model) -> tf.keras.Model:
    """A model returning the penultimate representation: the input of the last Dense layer."""
    for layer in reversed(model.layers):
        if isinstance(layer, tf.keras.layers.Dense):
            return tf.keras.Model(model.inputs, layer.input)
    raise ValueError(f"model {model.name!r}: no Dense classifier layer at the top level")
