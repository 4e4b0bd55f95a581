"""Compiling and fitting with checkpointing, early stopping and resumable epochs."""
from __future__ import annotations

import csv
from pathlib import Path

import tensorflow as tf

HISTORY_FILE = "history.csv"
# Resume state lives outside the DVC outputs, which DVC deletes before re-running a stage.
BACKUP_ROOT = Path(".convpipe/backup")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic on CPU."""
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(model: tf.keras.Model, learning_rate: float) -> None:
    """Adam on sparse categorical cross-entropy, tracking accuracy."""
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def fit(model: tf.keras.Model, train_ds, val_ds, epochs: int, patience: int, out_dir: Path,
        backup_dir: Path, callbacks: list | None = None) -> list[dict]:
    """Train, keep the best-val_loss weights in `model`, write history.csv; return its rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    history_path = out_dir / HISTORY_FILE
    standard = [
        tf.keras.callbacks.BackupAndRestore(str(backup_dir)),
        tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        tf.keras.callbacks.CSVLogger(str(history_path), append=True),
    ]
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=2,
              callbacks=standard + (callbacks or []))
    return read_history(history_path)


def read_history(path: Path) -> list[dict]:
    """Rows of a CSVLogger history file, numbers as floats; none when no epoch ran."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]
