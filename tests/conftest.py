"""Shared fixtures. convpipe is imported first so TensorFlow always resolves tf.keras to Keras 2."""
import convpipe  # noqa: F401
