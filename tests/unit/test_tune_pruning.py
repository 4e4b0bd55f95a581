"""The train stage's pruning hook: silent outside a study, reporting each epoch inside one, and stopping the
stage with its own exit code and one line when the study prunes the trial."""

import json

import optuna
import pytest

from convpipe.core.errors import Stopped, run_main
from convpipe.core.tracking import TUNE_ENV, StageRun
from convpipe.tune import pruning
from convpipe.tune.storage import PRUNED_AT, open_storage, trial_id

DROPOUT = {"model.dropout": optuna.distributions.FloatDistribution(0.1, 0.5)}


def test_outside_a_study_or_without_a_pruner_there_is_no_callback(monkeypatch):
    monkeypatch.delenv(TUNE_ENV, raising=False)
    assert pruning.callbacks(StageRun()) == []
    monkeypatch.setenv(TUNE_ENV, json.dumps({"study": "s", "trial": 0, "experiment": "s-0", "pruner": None}))
    assert pruning.callbacks(StageRun()) == []


@pytest.fixture
def study(tmp_path):
    """A maximised study whose one complete trial's val_loss fell 0.5, 0.2, 0.1 (reported negated)."""
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    created = optuna.create_study(storage=open_storage(url), study_name="s", direction="maximize")
    done = created.ask(DROPOUT)
    for epoch, val_loss in enumerate([0.5, 0.2, 0.1]):
        done.report(-val_loss, epoch)
    created.tell(done, 0.99)
    return url, created


def hook(monkeypatch, url, number):
    pruner = {"kind": "median", "startup_trials": 1, "warmup_epochs": 1}
    context = {"study": "s", "trial": number, "experiment": f"s-{number}", "storage": url, "pruner": pruner}
    monkeypatch.setenv(TUNE_ENV, json.dumps(context))
    [callback] = pruning.callbacks(StageRun())
    return callback


def test_a_lagging_trial_is_pruned_after_its_warmup(study, monkeypatch):
    url, created = study
    running = created.ask(DROPOUT)
    callback = hook(monkeypatch, url, running.number)
    callback.on_epoch_end(0, {"val_loss": 2.0})  # worse, but within warmup_epochs
    with pytest.raises(Stopped) as stopped:
        callback.on_epoch_end(1, {"val_loss": 1.5})
    assert stopped.value.code == pruning.PRUNED_EXIT == 3
    assert str(stopped.value) == "pruned after epoch 2: val_loss 1.5000 lags the other trials of study 's' (trial 1)"
    storage = open_storage(url)
    frozen = storage.get_trial(trial_id(storage, "s", running.number))
    assert frozen.intermediate_values == {0: -2.0, 1: -1.5}
    assert frozen.user_attrs[PRUNED_AT] == 1
    assert frozen.state == optuna.trial.TrialState.RUNNING  # the driver, not the stage, tells the study


def test_a_trial_doing_better_goes_on(study, monkeypatch):
    url, created = study
    callback = hook(monkeypatch, url, created.ask(DROPOUT).number)
    for epoch, val_loss in enumerate([0.4, 0.15, 0.08]):
        callback.on_epoch_end(epoch, {"val_loss": val_loss})


def test_a_pruned_stage_ends_with_its_code_and_one_line(capsys):
    def pruned():
        raise Stopped("pruned after epoch 2: …", 3)

    assert run_main(pruned, "train") == 3
    assert capsys.readouterr().err == "train: pruned after epoch 2: …\n"
