"""The Optuna study: samplers and pruners by name, a new study refused over an old one, resuming, the budget."""

import copy

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from convpipe.core import params
from convpipe.tune import storage as stores
from convpipe.tune import study as studies

with open("params.yaml", encoding="utf-8") as handle:
    GOOD = yaml.safe_load(handle)
COMMIT = "a" * 40


def tune_with(**changes) -> params.Tune:
    raw = copy.deepcopy(GOOD)
    raw["tune"].update(changes)
    return params.parse(raw).tune


def test_samplers_and_pruners_by_name():
    assert isinstance(studies.sampler(tune_with(sampler="tpe"), 1), optuna.samplers.TPESampler)
    assert isinstance(studies.sampler(tune_with(sampler="random"), 1), optuna.samplers.RandomSampler)
    assert isinstance(studies.sampler(tune_with(sampler="nsgaii"), 1), optuna.samplers.NSGAIISampler)
    assert isinstance(stores.pruner("median", 4, 3), optuna.pruners.MedianPruner)
    assert isinstance(stores.pruner("successive_halving", 4, 3), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(stores.pruner("none", 4, 3), optuna.pruners.NopPruner)


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'sub' / 'tune.db'}"


def open_study(url, tune, resume=False, commit=COMMIT):
    return studies.open_study(tune, url, stores.open_storage(url), 42, commit, resume)


def test_a_new_study_is_refused_over_an_existing_one_and_resume_needs_one(url):
    tune = tune_with()
    with pytest.raises(params.ParamsError, match="tune.study: no study 'digits' in sqlite:///.* to resume"):
        open_study(url, tune, resume=True)
    study = open_study(url, tune)
    assert study.directions == [optuna.study.StudyDirection.MAXIMIZE]
    with pytest.raises(params.ParamsError, match="a study 'digits' already exists in .*--resume"):
        open_study(url, tune)
    assert open_study(url, tune, resume=True).study_name == "digits"


def test_resume_refuses_another_commit_or_changed_settings(url):
    open_study(url, tune_with())
    with pytest.raises(ValueError, match="ran on commit aaaaaaaaaaaa, HEAD is bbbbbbbbbbbb"):
        open_study(url, tune_with(), resume=True, commit="b" * 40)
    with pytest.raises(params.ParamsError, match="tune.until changed since study 'digits' started"):
        open_study(url, tune_with(until="export"), resume=True)
    # The budget and the workers are the command's to change.
    assert open_study(url, tune_with(trials=30, workers=1), resume=True)


def test_an_interrupted_trial_is_failed_queued_again_and_not_counted(url):
    tune = tune_with(space={"model.dropout": {"low": 0.1, "high": 0.5}})
    study = open_study(url, tune)
    storage = stores.open_storage(url)
    distributions = {"model.dropout": optuna.distributions.FloatDistribution(0.1, 0.5)}
    done = study.ask(distributions)
    study.tell(done, 0.9)
    cut = study.ask(distributions)
    assert [t.number for t in studies.stale(study)] == [cut.number]
    studies.interrupt(study, storage, cut.number, "killed")
    assert studies.counted(study) == 1
    again = study.ask(distributions)  # the queued retry comes first, with the same params
    assert again.params == cut.params
    assert again.user_attrs == {studies.RETRY_OF: cut.number}
    study.tell(again, state=TrialState.PRUNED)
    failed = study.ask(distributions)
    study.tell(failed, state=TrialState.FAIL)
    assert studies.counted(study) == 3  # complete, pruned, and a failure of its own
    assert studies.stale(study) == []
