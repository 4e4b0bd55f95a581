"""tune.space: the schema of its entries, their Optuna distributions and the `-S` overrides of a trial."""

import copy

import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from convpipe.core import params
from convpipe.tune import space

with open("params.yaml", encoding="utf-8") as handle:
    GOOD = yaml.safe_load(handle)


def tune_with(**changes) -> params.Tune:
    raw = copy.deepcopy(GOOD)
    raw["tune"].update(changes)
    return params.parse(raw).tune


def test_entries_become_the_distributions_they_describe():
    tune = tune_with(
        space={
            "train.learning_rate": {"low": 0.0005, "high": 0.01, "log": True},
            "train.epochs": {"low": 5, "high": 30, "step": 5},
            "model.dropout": {"low": 0, "high": 0.5},
            "augment.flip": {"choices": ["none", "horizontal"]},
            "model.filters": {"choices": [[16, 32], [32, 64]]},
        }
    )
    found = space.distributions(tune.space)
    assert found["train.learning_rate"] == FloatDistribution(0.0005, 0.01, log=True)
    assert found["train.epochs"] == IntDistribution(5, 30, step=5)
    assert found["model.dropout"] == FloatDistribution(0.0, 0.5)  # one float end makes it a float range
    assert found["augment.flip"] == CategoricalDistribution(["none", "horizontal"])
    # Optuna takes scalar choices only: lists travel as JSON text and come back as lists.
    assert found["model.filters"] == CategoricalDistribution(["[16, 32]", "[32, 64]"])
    values = {"model.filters": "[32, 64]", "augment.flip": "horizontal", "train.epochs": 10}
    assert space.decoded(tune.space, values) == {
        "model.filters": [32, 64],
        "augment.flip": "horizontal",
        "train.epochs": 10,
    }
    assert space.encoded(tune.space, space.decoded(tune.space, values)) == values


def test_overrides_are_hydra_force_sets_with_json_values():
    assert space.overrides({"train.learning_rate": 1e-05, "model.filters": [16, 32], "augment.flip": "none"}) == [
        "-S",
        "++train.learning_rate=1e-05",
        "-S",
        "++model.filters=[16, 32]",
        "-S",
        '++augment.flip="none"',
    ]


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"low": 0.1, "high": 0.01}, "tune.space.x.range: Value error, low (0.1) must be below high (0.01)"),
        ({"low": 0, "high": 1, "log": True}, "a log range needs low > 0"),
        ({"low": 0.1, "high": 1, "log": True, "step": 0.1}, "log and step do not go together"),
        ({"low": 1}, "tune.space.x.range.high: missing"),
        ({"low": 1, "high": 2, "scale": "log"}, "tune.space.x.range.scale: unknown key"),
        ({"choices": []}, "tune.space.x.choices.choices: List should have at least 1 item"),
        ({"choices": [1, 1]}, "choices are listed twice"),
        (3, "tune.space.x.range: Input should be a valid dictionary"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_key(entry, expected):
    with pytest.raises(params.ParamsError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        tune_with(space={"x": entry})


def test_pruning_a_study_of_several_objectives_is_refused():
    objectives = {"val.accuracy": "maximize", "export.tflite_int8.size_bytes": "minimize"}
    with pytest.raises(params.ParamsError, match="pruner 'median' cannot prune a study with 2 objectives"):
        tune_with(objectives=objectives)
    assert tune_with(objectives=objectives, pruner="none").pruner == "none"


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"objectives": {"val.Accuracy": "maximize"}}, "tune.objectives.val.Accuracy"),
        ({"objectives": {"val.accuracy": "max"}}, "tune.objectives.val.accuracy"),
        ({"objectives": {}}, "tune.objectives"),
        ({"study": "two words"}, "tune.study"),
        ({"sampler": "grid"}, "tune.sampler"),
        ({"workers": 0}, "tune.workers"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(changes, key):
    with pytest.raises(params.ParamsError, match=f"params.yaml: {key}"):
        tune_with(**changes)
