"""Fitting: class weights, best-weights restore, determinism, resume after SIGKILL, two real workers."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from convpipe.model.history import HISTORY_FILE, read_history
from convpipe.model.training import ResumedReduceLROnPlateau, class_weights, epochs_since_best
from tests import fit_worker


def test_class_weights_balance_the_train_counts():
    weights = class_weights({"a": 30, "b": 10, "total": 40}, ["a", "b"])
    assert weights == pytest.approx({0: 40 / 60, 1: 40 / 20})
    assert 30 * weights[0] == pytest.approx(10 * weights[1])


def test_class_weights_name_an_empty_class():
    with pytest.raises(ValueError, match=r"class_weight.*\['b'\]"):
        class_weights({"a": 3, "b": 0}, ["a", "b"])


def history(*losses):
    return [{"epoch": float(i), "val_loss": loss} for i, loss in enumerate(losses)]


def test_epochs_since_best_counts_as_early_stopping_does():
    assert epochs_since_best([]) == 0
    assert epochs_since_best(history(0.9, 0.5, 0.7)) == 1
    assert epochs_since_best(history(0.5, 0.5, 0.5)) == 2  # equal is no improvement


def test_reduce_lr_patience_carries_on_from_the_epochs_run():
    # patience 2: the cut after epochs 2-3 resets the count, epoch 4 is one more without improvement
    reducer = ResumedReduceLROnPlateau(factor=0.5, patience=2, done=history(0.9, 0.5, 0.6, 0.7, 0.8))
    reducer.on_train_begin()
    assert (reducer.best, reducer.wait) == (0.5, 1)


@pytest.mark.slow
def test_same_seed_same_run_and_best_weights_restored(tmp_path):
    first = fit_worker.run({"out": str(tmp_path / "a"), "backup": str(tmp_path / "ba"), "epochs": 4})
    second = fit_worker.run({"out": str(tmp_path / "b"), "backup": str(tmp_path / "bb"), "epochs": 4})
    assert first["history"] == second["history"] and first["weight_sum"] == second["weight_sum"]
    assert [row["epoch"] for row in first["history"]] == [0, 1, 2, 3]
    best = min(row["val_loss"] for row in first["history"])
    assert first["val_loss"] == pytest.approx(best, rel=1e-4)
    assert read_history(tmp_path / "a" / HISTORY_FILE) == first["history"]
    assert not (tmp_path / "ba").exists()  # resume state is cleared once a run completes


def run_worker(config: dict, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fit_worker", json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ".", **(env or {})},
    )


def result(process: subprocess.Popen, timeout: int = 300) -> dict:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT "))[7:])


@pytest.mark.slow
@pytest.mark.parametrize("extra", [{}, {"precision": "mixed_bfloat16"}])
def test_same_seed_same_weights_in_each_precision(tmp_path, extra):
    # Subprocesses: the Keras policy is process-wide.
    first = result(run_worker({"out": str(tmp_path / "a"), "backup": str(tmp_path / "ba"), "epochs": 3, **extra}))
    second = result(run_worker({"out": str(tmp_path / "b"), "backup": str(tmp_path / "bb"), "epochs": 3, **extra}))
    assert first["history"] == second["history"] and first["weight_sum"] == second["weight_sum"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"schedule": "plateau"},
        {"precision": "mixed_bfloat16"},
        {"frozen": True},
        {"frozen": True, "augment": False},
    ],
    ids=["cosine", "plateau", "bfloat16", "feature-cache-augmented", "feature-cache"],
)
def test_killed_run_resumes_from_last_completed_epoch(tmp_path, extra):
    # The same identity (params and data) on both runs: the backup is resumed.
    config = {"out": str(tmp_path / "out"), "backup": str(tmp_path / "backup"), "epochs": 5, "identity": "A", **extra}
    killed = run_worker({**config, "kill_after": 1})
    killed.communicate(timeout=300)
    assert killed.returncode == -9
    before = read_history(tmp_path / "backup" / HISTORY_FILE)
    assert [row["epoch"] for row in before] == [0, 1]
    resumed = result(run_worker(config))
    assert resumed["started"] == [2, 3, 4]
    assert [row["epoch"] for row in resumed["history"]] == [0, 1, 2, 3, 4]
    assert resumed["history"][:2] == before
    assert resumed["val_loss"] == pytest.approx(min(row["val_loss"] for row in resumed["history"]), rel=1e-4)
    # With augmentation and dropout on, the epochs after the kill are the uninterrupted run's, exactly.
    uninterrupted = result(run_worker({**config, "out": str(tmp_path / "u"), "backup": str(tmp_path / "ub")}))
    assert resumed["history"] == uninterrupted["history"]
    assert resumed["weight_sum"] == uninterrupted["weight_sum"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def train_on_two_workers(config: dict, attempts: int = 2) -> list[dict]:
    """Both workers' results. A worker starved of CPU by the other test worker can miss the coordination
    service's heartbeat deadline (TensorFlow then aborts the cluster); that alone earns one more attempt."""
    for attempt in range(attempts):
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
        workers = [
            run_worker(config, {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
            for i in range(2)
        ]
        outputs = [worker.communicate(timeout=300) for worker in workers]
        if all(worker.returncode == 0 for worker in workers):
            return [
                json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
                for out, _ in outputs
            ]
        errors = "\n".join(err[-3000:] for _, err in outputs)
        if "stopped sending heartbeats" not in errors or attempt == attempts - 1:
            raise AssertionError(errors)
        for leftover in Path(config["out"]).parent.iterdir():  # both workers' outputs and backups
            shutil.rmtree(leftover, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.slow
def test_a_backup_from_other_params_or_data_is_not_resumed(tmp_path):
    config = {"out": str(tmp_path / "out"), "backup": str(tmp_path / "backup"), "epochs": 4, "identity": "params A"}
    killed = run_worker({**config, "kill_after": 1})
    killed.communicate(timeout=300)
    assert killed.returncode == -9 and (tmp_path / "backup" / "epochs").exists()
    other = run_worker({**config, "identity": "params B"})
    stdout = other.communicate(timeout=300)[0]
    assert other.returncode == 0
    started = json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT "))[7:])["started"]
    assert started == [0, 1, 2, 3]  # from scratch, not from the killed run's epoch 2
    assert "backup: an interrupted run's backup came from other params or data; starting over" in stdout
    assert not (tmp_path / "backup").exists()  # a completed run clears its backup, identity included


def test_two_workers_train_one_model(tmp_path):
    config = {
        "out": str(tmp_path / "out"),
        "backup": str(tmp_path / "backup"),
        "epochs": 2,
        "distribute": "multi_worker",
    }
    chief, other = train_on_two_workers(config)
    assert chief["replicas"] == other["replicas"] == 2
    # Synchronous all-reduce: both workers end training with the same weights and the same history.
    assert chief["trained_weight_sum"] == pytest.approx(other["trained_weight_sum"], rel=1e-6)
    assert chief["history"] == other["history"]
    assert [row["epoch"] for row in chief["history"]] == [0, 1]
    assert read_history(tmp_path / "out" / HISTORY_FILE) == chief["history"]
    assert read_history(tmp_path / "out-worker-1" / HISTORY_FILE) == other["history"]


def test_epoch_line_shows_the_planned_epochs_elapsed_and_at_most_left():
    from convpipe.model.training import duration, epoch_line

    assert [duration(s) for s in (0, 45.4, 62, 160, 3725)] == ["0s", "45s", "1m02s", "2m40s", "1h02m"]
    logs = {"loss": 0.42101, "accuracy": 0.88, "val_loss": 0.3, "val_accuracy": 0.9, "lr": 0.002}
    line = epoch_line("train", 7, 60, logs, 0.002, 62, 160)
    assert line == (
        "train: epoch 7/60  loss 0.4210  accuracy 0.8800  val_loss 0.3000  val_accuracy 0.9000  lr 0.002  "
        "1m02s elapsed, at most 2m40s left"
    )
    assert epoch_line("finetune", 10, 10, logs, None, 5, 0).endswith("val_accuracy 0.9000  5s elapsed")
