"""One trial of `convpipe tune`: `dvc exp run --temp` with the trial's `-S` overrides, and what it left.

`--temp` runs each trial in its own copy under .dvc/tmp/exps, so two run at once and the workspace (params.yaml,
dvc.lock, outputs) never changes; DVC holds its repository lock only to set a copy up and to collect its result,
and `--wait-for-lock` makes one trial wait for the other then. Each trial runs in a process group of its own, so
the driver can stop all of it (DVC and the stage it runs) at once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dvc.api
import psutil
from dvc.exceptions import DvcException
from dvc.repo import Repo
from dvc.repo.experiments.executor.base import ExecutorInfo
from dvc.repo.experiments.refs import ExpRefInfo

from convpipe.core.tracking import TUNE_ENV
from convpipe.model.history import HISTORY_FILE
from convpipe.ops.gate import read_revision
from convpipe.tune.space import overrides

STOP_GRACE_S = 30  # after SIGTERM, how long a stage gets to remove its partial outputs before SIGKILL


def experiment_name(study: str, number: int) -> str:
    """The DVC experiment name of a study's trial."""
    return f"{study}-{number}"


@dataclass(frozen=True)
class TrialSpec:
    """What one trial runs: its DVC experiment, params values and stages, and what the stages are told."""

    number: int
    experiment: str
    values: dict[str, object]
    targets: list[str]
    context: dict  # the TUNE_ENV payload
    log: Path

    def command(self) -> list[str]:
        """The `dvc exp run` of this trial."""
        return [
            "dvc",
            "--wait-for-lock",
            "exp",
            "run",
            "--temp",
            "-n",
            self.experiment,
            *overrides(self.values),
            *self.targets,
        ]


@dataclass
class RunningTrial:
    """A started trial's process, with its start time."""

    spec: TrialSpec
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        """Wall time since the trial started."""
        return time.monotonic() - self.started

    def stop(self) -> None:
        """SIGTERM to the trial's process group (stages end with 143, removing partial outputs), then SIGKILL to
        whatever of it still runs. DVC may exit before the stage it ran: the group, not DVC, must be done."""
        for sig, grace in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 10)):
            deadline = time.monotonic() + grace
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            while time.monotonic() < deadline:
                self.process.poll()  # reaps DVC once it exits
                if not group_running(self.process.pid):
                    return
                time.sleep(0.2)


def group_running(group: int) -> bool:
    """Whether a process of process group `group` still runs (a zombie, waiting to be reaped, does not)."""
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == group and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def start(spec: TrialSpec) -> RunningTrial:
    """Start the trial's `dvc exp run` in a process group of its own, its output going to spec.log."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, TUNE_ENV: json.dumps(spec.context)}
    with open(spec.log, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(spec.command()) + "\n")
        log.flush()
        process = subprocess.Popen(
            spec.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, process_group=0
        )
    return RunningTrial(spec, process)


def experiment_rev(baseline: str, name: str) -> str | None:
    """The commit of DVC experiment `name` on `baseline`, or None when DVC made none (a failed run)."""
    ref = str(ExpRefInfo(baseline, name))
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else None


def discard_killed_copy(name: str) -> None:
    """Remove the .dvc/tmp/exps copy of experiment `name` when a kill left it behind: DVC lists a copy whose
    folder exists as a running experiment (`dvc exp show`, `dvc queue status`) for ever."""
    with Repo() as repo:
        queue = repo.experiments.tempdir_queue
        for entry in list(queue.iter_active()):
            if entry.name == name:
                info = ExecutorInfo.load_json(queue.get_infofile_path(entry.stash_rev))
                shutil.rmtree(info.root_dir, ignore_errors=True)


def experiments_named(baseline: str, prefix: str) -> list[str]:
    """Names of DVC experiments on `baseline` that start with `prefix`."""
    base = str(ExpRefInfo(baseline))
    listed = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", base + "/"], capture_output=True, text=True, check=True
    )
    names = [line.rsplit("/", 1)[-1] for line in listed.stdout.split()]
    return [name for name in names if name.startswith(prefix)]


def metrics(reports: Path, rev: str) -> dict[str, float]:
    """The numeric report metrics an experiment committed (test.accuracy, export.tflite_int8.size_bytes, …)."""
    return read_revision(reports, rev) or {}


def train_val_losses(train_dir: Path, rev: str) -> list[float]:
    """val_loss of each train epoch, from the history.csv of the train output experiment `rev` recorded (read
    from DVC's cache: the trial ran in a copy sharing it); [] without one."""
    try:
        text = dvc.api.read(str(train_dir / HISTORY_FILE), repo=".", rev=rev)
    except (OSError, DvcException):  # not recorded, or not in the cache: the replay is only a hint
        return []
    rows = {row["epoch"]: row for row in csv.DictReader(io.StringIO(text))}  # a resumed epoch: the last wins
    return [float(row["val_loss"]) for row in rows.values()]


def last_error(log: Path) -> str:
    """The line of a trial's log that says why it failed: a stage's own `NAME: error: …` line, else DVC's first
    ERROR line, else the last line."""
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    stage = [line for line in lines if ": error: " in line]
    dvc = [line for line in lines if line.startswith("ERROR")]
    return stage[-1] if stage else dvc[0] if dvc else lines[-1] if lines else "(no output)"
