"""Trained models on disk: one file name, and one loader that never runs code a file carries."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

MODEL_FILE = "model.keras"  # what train and finetune write in their output folders


def load_model(path: Path | str) -> tf.keras.Model:
    """A .keras model, or a folder holding MODEL_FILE, loaded in Keras safe mode."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        # safe_mode: a .keras file may carry Python bytecode (Lambda layers); never run it.
        return tf.keras.models.load_model(path, safe_mode=True)
    except ValueError as err:
        if "safe_mode" not in str(err):
            raise
        raise ValueError(
            f"{path}: refused: it holds Python code (a Lambda layer), which could run anything; "
            "models are loaded in Keras safe mode"
        ) from None
