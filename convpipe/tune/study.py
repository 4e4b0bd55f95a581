"""The Optuna study behind `convpipe tune`: where it is stored, its sampler and pruner, and resuming it."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from convpipe.core.params import PARAMS_FILE, ParamsError, Tune
from convpipe.core.tracking import project_root
from convpipe.core.urls import redact
from convpipe.tune.front import INTERRUPTED
from convpipe.tune.storage import pruner, trial_id

DEFAULT_STORAGE = Path(".convpipe/tune.db")  # beside mlflow.db's project root, out of git (.gitignore)
RETRY_OF = "retry_of"  # user attr of a trial re-running an interrupted one's params
# What makes a study one study: a resumed study must match it (trials and workers may change).
IDENTITY = ("objectives", "space", "until", "sampler", "pruner", "startup_trials", "warmup_epochs", "baseline")


def storage_url(tune: Tune) -> str:
    """tune.storage, else a SQLite database under the project root's .convpipe/."""
    return tune.storage or f"sqlite:///{project_root() / DEFAULT_STORAGE}"


def sampler(tune: Tune, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler tune.sampler names, seeded from params.yaml's seed."""
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if tune.sampler == "nsgaii":
        return optuna.samplers.NSGAIISampler(population_size=max(2, tune.startup_trials), seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=tune.startup_trials, seed=seed)


def identity(tune: Tune) -> dict[str, str]:
    """The settings that define a study, as JSON text per key."""
    dumped = tune.model_dump(mode="json")
    return {key: json.dumps(dumped[key], sort_keys=True) for key in IDENTITY}


def open_study(
    tune: Tune, url: str, storage: optuna.storages.BaseStorage, seed: int, commit: str, resume: bool
) -> optuna.Study:
    """A new study (refused if one of that name exists) or, with `resume`, the existing one, which must have been
    started from the same commit and tune settings; `url` names the storage in messages."""
    directions = [tune.objectives[key] for key in tune.objectives]
    existing = optuna.get_all_study_names(storage)
    settings = {"sampler": sampler(tune, seed), "pruner": pruner(tune.pruner, tune.startup_trials, tune.warmup_epochs)}
    if not resume:
        if tune.study in existing:
            raise ParamsError(
                f"{PARAMS_FILE}: tune.study: a study {tune.study!r} already exists in {redact(url)}: "
                "`convpipe tune --resume` continues it; another tune.study starts a new one"
            )
        study = optuna.create_study(storage=storage, study_name=tune.study, directions=directions, **settings)
        study.set_user_attr("commit", commit)
        for key, value in identity(tune).items():
            study.set_user_attr(key, value)
        return study
    if tune.study not in existing:
        raise ParamsError(f"{PARAMS_FILE}: tune.study: no study {tune.study!r} in {redact(url)} to resume")
    study = optuna.load_study(storage=storage, study_name=tune.study, **settings)
    started = study.user_attrs
    if started.get("commit") != commit:
        raise ValueError(
            f"study {tune.study!r} ran on commit {started.get('commit', '?')[:12]}, HEAD is {commit[:12]}: "
            "its trials would not compare; check that commit out, or start another tune.study"
        )
    changed = [key for key, value in identity(tune).items() if started.get(key) != value]
    if changed:
        raise ParamsError(
            f"{PARAMS_FILE}: tune.{changed[0]} changed since study {tune.study!r} started "
            f"(was {started.get(changed[0])}); put it back, or start another tune.study"
        )
    return study


def counted(study: optuna.Study) -> int:
    """Trials that count against the budget: complete, pruned, and failed ones not cut off by a kill."""
    return sum(
        1
        for trial in study.get_trials(deepcopy=False)
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (trial.state == TrialState.FAIL and not trial.user_attrs.get(INTERRUPTED))
    )


def interrupt(study: optuna.Study, storage: optuna.storages.BaseStorage, number: int, reason: str) -> None:
    """Record trial `number`, cut off by a kill, as failed and queue its params again, to run next."""
    storage.set_trial_user_attr(trial_id(storage, study.study_name, number), INTERRUPTED, reason)
    params = study.tell(number, state=TrialState.FAIL).params
    study.enqueue_trial(params, user_attrs={RETRY_OF: number})


def stale(study: optuna.Study) -> list[FrozenTrial]:
    """Trials a killed study left running."""
    return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
