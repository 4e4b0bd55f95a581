"""`convpipe tune`: an Optuna study whose every trial is a DVC experiment, run a few at a time.

The driver alone asks the study for trials and tells it their results, one call at a time; the trials' train
stages only report epochs to their own trial. Each trial is `dvc exp run --temp` (see tune.trial), so nothing in
the workspace changes until the user applies a result with `dvc exp apply`.
"""

from __future__ import annotations

import fcntl
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from convpipe.core.params import Params, Tune
from convpipe.core.paths import load_paths
from convpipe.core.tracking import StageRun, project_root, study_run
from convpipe.core.urls import redact
from convpipe.ops.gate import read_workspace
from convpipe.tune import checks, front
from convpipe.tune import study as studies
from convpipe.tune import trial as trials
from convpipe.tune.space import decoded, distributions, encoded
from convpipe.tune.storage import PRUNED_AT, open_storage, trial_id

POLL_S = 1.0  # how often the driver looks at its running trials
FAILURES_IN_A_ROW = 3  # then the study stops starting trials: the pipeline, not the params, is likely at fault
WORK_DIR = Path(".convpipe/tune")  # per study: the trials' logs and the driver's lock


@dataclass(frozen=True)
class Request:
    """What the command line asks for: the study's total trials and how many run at once (None: tune.trials,
    tune.workers), and whether to resume."""

    trials: int | None = None
    workers: int | None = None
    resume: bool = False


@dataclass(frozen=True)
class Outcome:
    """The study at the end: its trials, front, table, and where the plot went."""

    rows: list[front.TrialRow]
    on_front: list[int]
    plot: Path | None
    stopped: str = ""  # why the study stopped early, if it did


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP reached the driver; handled like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum, frame) -> None:
    raise Interrupted(signum)


def head_commit() -> str:
    """HEAD's commit: the baseline every trial's experiment branches from."""
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True, text=True)
    if found.returncode != 0:
        raise ValueError("convpipe tune needs a git commit: its trials are DVC experiments, which branch from one")
    return found.stdout.strip()


@contextmanager
def study_lock(study: str) -> Iterator[Path]:
    """This study's work folder, locked against a second driver of the same study on this machine."""
    folder = project_root() / WORK_DIR / study
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "driver.lock", "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"study {study!r} is being run by another `convpipe tune` on this machine") from None
        yield folder


@dataclass(frozen=True)
class Session:
    """An open study and what its trials share: the settings, storage, baseline commit, work folder, MLflow run."""

    params: Params
    tune: Tune
    request: Request
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    commit: str
    folder: Path
    run: StageRun


class Driver:
    """Runs one study: starts trials up to the worker count, polls them, tells the study each result."""

    def __init__(self, session: Session, say: Callable[[str], None]):
        self.session, self.say = session, say
        self.params, self.tune, self.request = session.params, session.tune, session.request
        self.study, self.storage = session.study, session.storage
        self.commit, self.folder = session.commit, session.folder
        self.study_run_id = session.run.run.info.run_id if session.run.tracked else None
        paths = load_paths()
        self.reports, self.train_dir = paths.reports, paths.train
        self.stages = checks.stages_through(self.tune.until, checks.pipeline_stages())
        self.distributions = distributions(self.tune.space)
        self.running: dict[int, tuple[optuna.trial.Trial, trials.RunningTrial]] = {}
        self.failures_in_a_row = 0

    def run(self, url: str) -> Outcome:
        """Prepare the study, run it to its budget (or until interrupted), then summarise it."""
        self._prepare(url)
        stopped = self._loop()
        return self._finish(self.session.run, stopped)

    def _prepare(self, url: str) -> None:
        """A new study: its experiment names must be free, and trial 0 is params.yaml's own values. A resumed
        one: trials a kill left running are collected if DVC finished them, else queued to run again."""
        if not self.request.resume:
            taken = trials.experiments_named(self.commit, f"{self.tune.study}-")
            if taken:
                raise ValueError(
                    f"DVC experiments {', '.join(sorted(taken)[:3])} already exist on this commit: "
                    f"pick another tune.study, or remove them (dvc exp remove)"
                )
            if self.tune.baseline:
                self.study.enqueue_trial(encoded(self.tune.space, checks.baseline_values(self.params)))
        for left in studies.stale(self.study):
            name = left.user_attrs.get(front.EXPERIMENT, "")
            rev = trials.experiment_rev(self.commit, name) if name else None
            if rev:  # DVC finished it after the driver died
                self._tell_complete(optuna.trial.Trial(self.study, self._id(left.number)), rev, None)
            else:
                studies.interrupt(self.study, self.storage, left.number, "interrupted by a killed study")
                if name:
                    trials.discard_killed_copy(name)
                self.say(f"trial {name or left.number}: interrupted earlier; its params run again")
        counted = studies.counted(self.study)
        self.say(
            f"tune: study {self.tune.study!r} in {redact(url)}: "
            f"{counted} of {self.request.trials} trials done, {self.request.workers} at a time, "
            + ", ".join(f"{k} ({v})" for k, v in self.tune.objectives.items())
            + f"; trial logs in {self.folder}"
        )

    def _id(self, number: int) -> int:
        return trial_id(self.storage, self.tune.study, number)

    def _left(self) -> int:
        return self.request.trials - studies.counted(self.study) - len(self.running)

    def _loop(self) -> str:
        """Run trials until the budget is spent; returns why it stopped early, or ''."""
        stopped = ""
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            while self.running or (self._left() > 0 and not stopped):
                while not stopped and len(self.running) < self.request.workers and self._left() > 0:
                    self._start()
                time.sleep(POLL_S)
                for number in [n for n, (_, run) in self.running.items() if run.process.poll() is not None]:
                    trial, run = self.running.pop(number)
                    self._collect(trial, run)
                if self.failures_in_a_row >= FAILURES_IN_A_ROW and not stopped:
                    stopped = f"{FAILURES_IN_A_ROW} trials failed in a row; see their logs in {self.folder}"
                    self.say(f"tune: {stopped}; waiting for the running ones")
        except KeyboardInterrupt as err:
            self._stop_all(f"interrupted ({err or 'Ctrl-C'})")
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return stopped

    def _start(self) -> None:
        trial = self.study.ask(self.distributions)
        name = trials.experiment_name(self.tune.study, trial.number)
        values = decoded(self.tune.space, trial.params)
        trial.set_user_attr(front.EXPERIMENT, name)
        pruner = None
        if self.tune.pruner != "none":
            pruner = {
                "kind": self.tune.pruner,
                "startup_trials": self.tune.startup_trials,
                "warmup_epochs": self.tune.warmup_epochs,
            }
        context = {
            "study": self.tune.study,
            "trial": trial.number,
            "experiment": name,
            "study_run": self.study_run_id,
            "storage": studies.storage_url(self.tune),
            "pruner": pruner,
        }
        spec = trials.TrialSpec(trial.number, name, values, self.stages, context, self.folder / f"{name}.log")
        self.running[trial.number] = (trial, trials.start(spec))
        shown = " ".join(f"{key}={front.number_text(value)}" for key, value in values.items())
        self.say(f"trial {name}: started ({shown})")

    def _collect(self, trial: optuna.trial.Trial, run: trials.RunningTrial) -> None:
        """Tell the study how a finished trial went: complete, pruned (its train said so) or failed."""
        name, seconds = run.spec.experiment, run.seconds
        trial.set_user_attr(front.SECONDS, round(seconds, 1))
        rev = trials.experiment_rev(self.commit, name) if run.process.returncode == 0 else None
        if rev:
            self._tell_complete(trial, rev, seconds)
            return
        attrs = self.storage.get_trial(self._id(trial.number)).user_attrs
        if PRUNED_AT in attrs:
            self.study.tell(trial, state=TrialState.PRUNED)
            self.failures_in_a_row = 0
            self.say(f"trial {name}: pruned after train epoch {attrs[PRUNED_AT] + 1} ({seconds:.0f} s)")
            return
        reason = trials.last_error(run.spec.log)
        trial.set_user_attr(front.ERROR, reason)
        self.study.tell(trial, state=TrialState.FAIL)
        self.failures_in_a_row += 1
        self.say(f"trial {name}: failed ({seconds:.0f} s): {reason} (log: {run.spec.log})")

    def _tell_complete(self, trial: optuna.trial.Trial, rev: str, seconds: float | None) -> None:
        name = trial.user_attrs.get(front.EXPERIMENT, "")
        found = trials.metrics(self.reports, rev)
        missing = [key for key in self.tune.objectives if key not in found]
        if missing:
            trial.set_user_attr(front.ERROR, f"its reports lack {', '.join(missing)}")
            self.study.tell(trial, state=TrialState.FAIL)
            self.failures_in_a_row += 1
            self.say(f"trial {name}: failed: its reports lack {', '.join(missing)}")
            return
        frozen = self.storage.get_trial(self._id(trial.number))
        trial.set_user_attr(front.TRAINED, bool(frozen.intermediate_values))
        if not frozen.intermediate_values and len(self.tune.objectives) == 1 and self.tune.pruner != "none":
            # Train came from DVC's run-cache and reported nothing: its history.csv gives the pruner the epochs.
            sign = -1.0 if self.study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
            for epoch, val_loss in enumerate(trials.train_val_losses(self.train_dir, rev)):
                trial.report(sign * val_loss, epoch)
        values = [found[key] for key in self.tune.objectives]
        self.study.tell(trial, values)
        self.failures_in_a_row = 0
        took = f" ({seconds:.0f} s)" if seconds is not None else ""
        self.say(
            f"trial {name}: complete{took}: "
            + ", ".join(f"{k} {front.number_text(found[k])}" for k in self.tune.objectives)
        )

    def _stop_all(self, reason: str) -> None:
        """Stop the running trials and record them as interrupted, queued to run again on --resume."""
        for number, (_, run) in list(self.running.items()):
            run.stop()
            studies.interrupt(self.study, self.storage, number, reason)
            self.say(f"trial {run.spec.experiment}: {reason}; `convpipe tune --resume` runs its params again")
        self.running.clear()

    def _finish(self, run: StageRun, stopped: str) -> Outcome:
        """Print the table and front, draw reports/tune.png, log the summary to the study's MLflow run."""
        found = front.rows(self.study, self.tune.space)
        on_front = front.front(self.study) if any(row.values for row in found) else []
        self.say("\n" + front.table(found, self.tune.objectives, on_front))
        plot = None
        if on_front:
            plot = front.plot(found, self.tune.objectives, on_front, self.reports / "tune.png")
        summary = front.summary(found, self.tune.objectives, on_front)
        pruned, saved = front.pruning_saved(found)
        self.say(self._closing(found, on_front, pruned, saved, plot))
        run.log_text(json.dumps(summary, indent=2), "tune.json")
        run.log_text(front.table(found, self.tune.objectives, on_front), "tune.txt")
        if plot:
            run.log_artifact(plot)
        counts = {f"trials_{state}": n for state, n in summary["trials"].items()}
        run.log_metrics({**counts, "pruning_saved_s": saved or 0.0})
        if on_front:
            best = next(row for row in found if row.number == on_front[0])
            run.set_tags({"convpipe.tune.front": ", ".join(summary["front"]), "convpipe.tune.best": best.experiment})
        return Outcome(found, on_front, plot, stopped)

    def _closing(
        self, found: list[front.TrialRow], on_front: list[int], pruned: int, saved: float | None, plot: Path | None
    ) -> str:
        names = [row.experiment for number in on_front for row in found if row.number == number]
        kind = "best" if len(self.tune.objectives) == 1 else "Pareto front"
        lines = [f"\n{kind} (*): {', '.join(names) or 'no complete trial'}"]
        if pruned:
            estimate = f", saving about {saved / 60:.1f} min" if saved is not None else ""
            counted = sum(row.state != "interrupted" for row in found)
            lines.append(f"pruning cut {pruned} of {counted} trials short{estimate}")
        if plot:
            lines.append(f"plot: {plot}")
        if names:
            lines.append(f"apply one to the workspace: dvc exp apply {names[0]}  (then dvc repro for later stages)")
        return "\n".join(lines)


def run_study(params: Params, request: Request, say: Callable[[str], None] = print) -> Outcome:
    """Check params.yaml's tune section (refusing a bad one before any trial), then run the study."""
    settings = checks.check(params, checks.pipeline_stages(), read_workspace(load_paths().reports))
    resolved = Request(request.trials or settings.trials, request.workers or settings.workers, request.resume)
    commit = head_commit()
    url = studies.storage_url(settings)
    with study_lock(settings.study) as folder, study_run(settings.study, params) as run:
        storage = open_storage(url)
        study = studies.open_study(settings, url, storage, params.seed, commit, resolved.resume)
        session = Session(params, settings, resolved, study, storage, commit, folder, run)
        return Driver(session, say).run(url)
