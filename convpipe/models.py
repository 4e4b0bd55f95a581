"""Model builders. Every model takes raw pixels (0-255) and returns class probabilities."""
from __future__ import annotations

import tensorflow as tf

from convpipe.params import Augment, Model

layers = tf.keras.layers


def build_model(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """The network `model.arch` names, for input_shape (H, W, C) and num_classes outputs."""
    builders = {"small_convnet": small_convnet}
    return builders[spec.arch](spec, input_shape, num_classes)


def small_convnet(spec: Model, input_shape: tuple[int, int, int], num_classes: int) -> tf.keras.Model:
    """Conv2D blocks with MaxPooling between them, then dropout and a softmax (Deep Learning with Python, ch. 8)."""
    inputs = tf.keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    for i, filters in enumerate(spec.filters):
        if i:
            x = layers.MaxPooling2D()(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Flatten(name="features")(x)
    x = layers.Dropout(spec.dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name=spec.arch)


def augmentation(spec: Augment, seed: int) -> tf.keras.Sequential:
    """Random transforms for training batches; identity layers are left out."""
    steps = []
    if spec.flip != "none":
        steps.append(layers.RandomFlip(spec.flip, seed=seed))
    if spec.rotation:
        steps.append(layers.RandomRotation(spec.rotation, fill_mode="constant", seed=seed + 1))
    if spec.zoom:
        steps.append(layers.RandomZoom(spec.zoom, fill_mode="constant", seed=seed + 2))
    if spec.translation:
        steps.append(layers.RandomTranslation(spec.translation, spec.translation, fill_mode="constant", seed=seed + 3))
    if spec.contrast:
        steps.append(layers.RandomContrast(spec.contrast, seed=seed + 4))
    return tf.keras.Sequential(steps, name="augmentation")


def unfreeze(model: tf.keras.Model, count: str | int | float) -> int:
    """Make the top `count` layers trainable (all, a number, or a fraction); return how many."""
    trainable = [layer for layer in model.layers if layer.weights]
    n = len(trainable) if count == "all" else int(count) if isinstance(count, int) else round(count * len(trainable))
    for i, layer in enumerate(trainable):
        layer.trainable = i >= len(trainable) - n
    return n
