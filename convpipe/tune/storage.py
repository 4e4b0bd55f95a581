"""What the `convpipe tune` driver and a trial's train stage both open: the Optuna storage, the pruner, a trial."""

from __future__ import annotations

from pathlib import Path

import optuna

PRUNED_AT = "pruned_at_epoch"  # user attr a pruned train sets on its trial: how the driver tells pruned from failed
SQLITE_TIMEOUT_S = 60  # trials report each epoch from their own processes: a writer waits rather than fails

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trials' own lines say what happened


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at `url`; a SQLite file waits up to SQLITE_TIMEOUT_S for another writer."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}})
    return optuna.storages.RDBStorage(url)


def pruner(kind: str, startup_trials: int, warmup_epochs: int) -> optuna.pruners.BasePruner:
    """The pruner `kind` names (tune.pruner); the train stage rebuilds it from the same three values."""
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, warmup_epochs))
    return optuna.pruners.NopPruner()


def trial_id(storage: optuna.storages.BaseStorage, study: str, number: int) -> int:
    """The storage's id of trial `number` of `study` (what optuna.trial.Trial takes)."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study), number)


class TrialReporter:
    """A trial the driver asked for, as its train stage sees it: report each epoch, learn whether to stop.

    Optuna's pruners compare values in the study's direction, so for a maximised objective the value reported is
    -val_loss: a lower loss then reads as better either way.
    """

    def __init__(self, storage_url: str, study: str, number: int, pruner_settings: dict):
        storage = open_storage(storage_url)
        loaded = optuna.load_study(study_name=study, storage=storage, pruner=pruner(**pruner_settings))
        self.trial = optuna.trial.Trial(loaded, trial_id(storage, study, number))
        self.sign = -1.0 if loaded.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        self.study, self.number = study, number

    def report(self, epoch: int, val_loss: float) -> bool:
        """Report `val_loss` after `epoch` (0-based); True when the pruner stops the trial, which is then marked."""
        self.trial.report(self.sign * val_loss, epoch)
        if not self.trial.should_prune():
            return False
        self.trial.set_user_attr(PRUNED_AT, epoch)
        return True
