"""Seeding once, at the top of a stage, and the per-epoch re-seeding that makes a resumed fit equal an
uninterrupted one."""

from __future__ import annotations

import tensorflow as tf


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic on CPU."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # Random layers (Dropout) then draw from a tf.random.Generator, which fit re-seeds at each epoch
    # (see reseed_random_layers); the legacy stateful ops keep their state where nothing can reach it.
    tf.keras.backend.experimental.enable_tf_random_generator()


def reseed_random_layers(model: tf.keras.Model, key: int) -> None:
    """Restart the generator of every random layer in `model` (Dropout, …) from (key, its position)."""
    # Keras keeps these generators out of checkpoints, so the epoch backup cannot restore them;
    # a seed per epoch makes their draws the same whether the run was resumed or not.
    generators = [
        layer._random_generator._generator
        for layer in model.submodules
        if getattr(getattr(layer, "_random_generator", None), "_generator", None) is not None
    ]
    for position, generator in enumerate(generators):
        generator.reset_from_seed([key, position])
