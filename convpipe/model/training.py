"""Compiling and fitting with best-model checkpointing, early stopping and resumable epochs."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

import convpipe
from convpipe.core.params import Finetune, Train
from convpipe.data.shards import Epochs
from convpipe.model.history import HISTORY_FILE, epochs_run, write_history
from convpipe.model.seeding import reseed_random_layers

BEST_WEIGHTS = "best.ckpt"  # TensorFlow checkpoint: HDF5 weights fail to load under MultiWorkerMirroredStrategy
# Resume state lives outside the DVC outputs, which DVC deletes before re-running a stage.
BACKUP_ROOT = Path(".convpipe/backup")
IDENTITY_FILE = "identity.txt"  # in a backup: what the interrupted run was trained from (see run_identity)


def distribution(kind: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy `train.distribute` names; create it before any other TensorFlow work."""
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    resolver = strategy.cluster_resolver
    if resolver is None or resolver.task_type in (None, "chief"):
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def worker_dir(path: Path, strategy: tf.distribute.Strategy) -> Path:
    """`path` on the chief; a per-worker sibling elsewhere, so workers sharing a disk never collide."""
    if is_chief(strategy):
        return path
    resolver = strategy.cluster_resolver
    return path.with_name(f"{path.name}-{resolver.task_type}-{resolver.task_id}")


def class_weights(counts: dict[str, int], class_names: list[str]) -> dict[int, float]:
    """sklearn's 'balanced' weights, total / (classes × count), from the train split's counts per class."""
    total = sum(counts[name] for name in class_names)
    missing = [name for name in class_names if counts[name] == 0]
    if missing:
        raise ValueError(f"train.class_weight auto: class(es) {missing} have no train images")
    return {i: total / (len(class_names) * counts[name]) for i, name in enumerate(class_names)}


def compile_model(model: tf.keras.Model, learning_rate: float, label_smoothing: float = 0.0) -> None:
    """Adam on sparse categorical cross-entropy, tracking accuracy.

    With label smoothing, categorical cross-entropy on one-hot labels (Keras 2's sparse loss has no
    smoothing); fit() turns the integer labels into one-hot ones for such a model.
    """
    if label_smoothing:
        loss = tf.keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        metrics = [tf.keras.metrics.CategoricalAccuracy(name="accuracy")]
    else:
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)


def one_hot_labels(model: tf.keras.Model, ds):
    """`ds` with one-hot labels when `model` was compiled with label smoothing, else `ds` itself."""
    if not isinstance(model.loss, tf.keras.losses.CategoricalCrossentropy):
        return ds
    classes = model.output_shape[-1]
    return ds.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), classes)))


def cosine_schedule(learning_rate: float, epochs: int, warmup_epochs: int) -> Callable[[int], float]:
    """The rate of each epoch: a linear warm-up to `learning_rate` over `warmup_epochs`, then a cosine decay
    towards 0 over the remaining planned epochs. A function of the epoch index alone, so a resumed run
    uses the rates an uninterrupted one would have."""

    def rate(epoch: int) -> float:
        if epoch < warmup_epochs:
            return learning_rate * (epoch + 1) / (warmup_epochs + 1)
        progress = (epoch - warmup_epochs) / max(epochs - warmup_epochs, 1)
        return learning_rate * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return rate


class ResumedReduceLROnPlateau(tf.keras.callbacks.ReduceLROnPlateau):
    """ReduceLROnPlateau on val_loss whose patience count carries on from the epochs already run
    (the learning rate itself comes back with the optimizer from the epoch backup)."""

    def __init__(self, factor: float, patience: int, done: list[dict]):
        super().__init__(monitor="val_loss", factor=factor, patience=patience)
        self.done = done

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for row in self.done:  # on_epoch_end's bookkeeping (cooldown is 0), without touching the rate
            if self.monitor_op(row["val_loss"], self.best):
                self.best, self.wait = row["val_loss"], 0
            else:
                self.wait = 0 if self.wait + 1 >= self.patience else self.wait + 1


def epochs_since_best(done: list[dict]) -> int:
    """Epochs run since the lowest val_loss (0 when the last was the best or none ran), as EarlyStopping counts."""
    losses = [row["val_loss"] for row in done]
    return len(losses) - 1 - losses.index(min(losses)) if losses else 0


def resume_epoch(backup_dir: Path) -> int:
    """The epoch a fit starts at: one past the last epoch BackupAndRestore saved in `backup_dir`, else 0."""
    latest = tf.train.latest_checkpoint(str(backup_dir / "chief"))  # every worker restores the chief's
    if latest is None:
        return 0
    return int(tf.train.load_variable(latest, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")) + 1


def duration(seconds: float) -> str:
    """45s, 1m02s, 1h03m."""
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def epoch_line(label: str, epoch: int, planned: int, logs: dict, lr: float | None, elapsed: float, left: float) -> str:
    """`train: epoch 7/60  loss 0.4210  accuracy 0.8800  val_loss …  lr 0.002  1m02s elapsed, at most 2m40s left`;
    `epoch` counts from 1. "At most": early stopping may end the stage sooner."""
    metrics = "  ".join(f"{key} {float(value):.4f}" for key, value in logs.items() if key != "lr")
    rate = f"  lr {lr:.3g}" if lr is not None else ""
    tail = f"{duration(elapsed)} elapsed" + (f", at most {duration(left)} left" if epoch < planned else "")
    return f"{label}: epoch {epoch}/{planned}  {metrics}{rate}  {tail}"


def current_learning_rate(optimizer) -> float | None:
    """The optimizer's learning rate now (a schedule evaluated at its step count); None if unreadable."""
    try:
        rate = optimizer.learning_rate
        if callable(rate) and not isinstance(rate, tf.Variable):
            rate = rate(optimizer.iterations)
        return float(tf.keras.backend.get_value(rate))
    except (AttributeError, TypeError, ValueError):
        return None


class EpochLine(tf.keras.callbacks.Callback):
    """Prints one epoch_line per epoch, in place of Keras' `Epoch 1/1` of a one-epoch fit."""

    def __init__(self, label: str, planned: int, started: float, first_epoch: int):
        super().__init__()
        self.label, self.planned, self.started, self.first_epoch = label, planned, started, first_epoch

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        per_epoch = (now - self.started) / (epoch + 1 - self.first_epoch)  # epochs this process ran (resumes too)
        left = per_epoch * (self.planned - epoch - 1)
        lr = current_learning_rate(self.model.optimizer)
        # Elapsed: the stage's, from its process start (imports, building, a feature cache included).
        elapsed = now - convpipe.STARTED
        print(epoch_line(self.label, epoch + 1, self.planned, logs or {}, lr, elapsed, left), flush=True)


def run_identity(values: dict, files: list[Path]) -> str:
    """A digest of what a fit is trained from (its params, and its input files' names and bytes): a backup
    made from anything else must not be resumed."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    for path in sorted(files):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def discard_other_runs_backup(backup_dir: Path, identity: str) -> None:
    """Delete an interrupted run's epoch backup unless it was made from `identity`: a kill, then an edit to
    params.yaml or the data, must start over, not resume the old run."""
    recorded = backup_dir / IDENTITY_FILE
    if (backup_dir / "epochs").exists() and (not recorded.exists() or recorded.read_text() != identity):
        print(f"{backup_dir.name}: an interrupted run's backup came from other params or data; starting over")
        shutil.rmtree(backup_dir / "epochs", ignore_errors=True)


def fit(
    model: tf.keras.Model,
    train: Epochs,
    val_ds,
    settings: Train | Finetune,
    out_dir: Path,
    backup_dir: Path,
    class_weight: dict[int, float] | None = None,
    callbacks: list | None = None,
    schedule: Callable[[int], float] | None = None,
    identity: str | None = None,
) -> list[dict]:
    """Train (resuming an interrupted run of the same `identity`, see run_identity), keep the best-val_loss
    weights in `model`; return history.csv rows.

    The learning rate follows `schedule` (epoch → rate, see cosine_schedule) when given; otherwise it is
    cut on val_loss plateaus (settings.reduce_lr_*), the count replayed from history.csv on resume.

    One `model.fit` call per epoch, on that epoch's batches. Their order and augmentation, and the
    random layers' draws, come from (seed, epoch); weights and optimizer come from the epoch backup;
    so a run resumed after a kill continues exactly as an uninterrupted one. Early stopping is the
    loop's test on history.csv, which survives a kill as a callback's counters would not.
    """
    strategy = model.distribute_strategy
    state_dir = worker_dir(backup_dir, strategy)
    history_path, best_path = state_dir / HISTORY_FILE, state_dir / BEST_WEIGHTS
    if identity is not None:
        discard_other_runs_backup(backup_dir, identity)
    if not (backup_dir / "epochs").exists():  # no interrupted run: drop what a finished or failed one left
        shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    if identity is not None:  # for the next run, should this one be killed
        backup_dir.mkdir(parents=True, exist_ok=True)
        (backup_dir / IDENTITY_FILE).write_text(identity)
    options = tf.data.Options()
    if strategy.num_replicas_in_sync > 1:
        # Shard by example: a split may have fewer TFRecord files than workers.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        val_ds = val_ds.with_options(options)
    val_ds = one_hot_labels(model, val_ds)
    first_epoch, started = resume_epoch(backup_dir / "epochs"), time.perf_counter()
    for epoch in range(first_epoch, settings.epochs):
        # A kill between an epoch's history row and its backup runs that epoch again, so its row is not done.
        done = [row for row in epochs_run(history_path) if row["epoch"] < epoch]
        if done and epochs_since_best(done) >= settings.patience:
            break
        # Order matters when a run is killed between callbacks: the history row and the best weights are
        # written before the backup, so a resumed run at worst repeats an epoch, never skips one.
        best = min((row["val_loss"] for row in done), default=None)
        standard = [
            tf.keras.callbacks.ModelCheckpoint(
                str(best_path), save_best_only=True, save_weights_only=True, initial_value_threshold=best
            ),
            tf.keras.callbacks.CSVLogger(str(history_path), append=True),
            (
                tf.keras.callbacks.LearningRateScheduler(lambda index, _: schedule(index))
                if schedule
                else ResumedReduceLROnPlateau(settings.reduce_lr_factor, settings.reduce_lr_patience, done)
            ),
            tf.keras.callbacks.BackupAndRestore(str(backup_dir / "epochs"), delete_checkpoint=False),
            EpochLine(backup_dir.name, settings.epochs, started, first_epoch),
        ]
        reseed_random_layers(model, train.key(epoch))
        model.fit(
            one_hot_labels(model, train.epoch(epoch)).with_options(options),
            validation_data=val_ds,
            initial_epoch=epoch,
            epochs=epoch + 1,
            verbose=0,
            class_weight=class_weight,
            callbacks=standard + (callbacks or []),
        )
    if best_path.with_name(BEST_WEIGHTS + ".index").exists():  # only the chief writes it
        model.load_weights(str(best_path)).expect_partial()
    rows = epochs_run(history_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_history(rows, out_dir / HISTORY_FILE)
    shutil.rmtree(state_dir, ignore_errors=True)
    return rows
