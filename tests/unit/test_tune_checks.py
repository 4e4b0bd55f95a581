"""What `convpipe tune` refuses before any trial runs, each refusal naming the key at fault."""

import copy

import pytest
import yaml

from convpipe.core import params
from convpipe.tune import checks

with open("params.yaml", encoding="utf-8") as handle:
    GOOD = yaml.safe_load(handle)
STAGES = checks.pipeline_stages()
REPORTS = {
    "train.val_accuracy": 0.99,
    "val.accuracy": 0.98,
    "test.accuracy": 0.99,
    "export.tflite_int8.size_bytes": 123912.0,
}


def check(reports=REPORTS, top=None, **changes):
    raw = copy.deepcopy(GOOD)
    raw["tune"].update(changes)
    for section, values in (top or {}).items():
        raw[section].update(values)
    return checks.check(params.parse(raw), STAGES, reports)


def test_the_committed_tune_section_passes_and_runs_the_stages_through_until():
    tune = check()
    assert GOOD["tune"]["until"] == "auto" and tune.until == "train"  # its one objective is train's
    assert checks.stages_through(tune.until, STAGES) == list(STAGES)[: list(STAGES).index("train") + 1]
    assert checks.baseline_values(params.load_params())["model.filters"] == [32, 64, 128]


@pytest.mark.parametrize(
    "objectives, until",
    [
        ({"train.val_loss": "minimize"}, "train"),
        ({"val.accuracy": "maximize"}, "evaluate"),
        ({"test.accuracy": "maximize", "train.val_accuracy": "maximize"}, "evaluate"),
        ({"val.accuracy": "maximize", "export.tflite_int8.size_bytes": "minimize"}, "export"),
    ],
)
def test_until_auto_runs_trials_to_the_last_stage_an_objective_needs(objectives, until):
    assert check(reports={}, objectives=objectives, until="auto", pruner="none").until == until


@pytest.mark.parametrize(
    "space, expected",
    [
        ({"train.lr": {"low": 0.001, "high": 0.01}}, "'train.lr' is not a params key (train has epochs, batch_size,"),
        ({"train.learning_rat": {"low": 0.001, "high": 0.01}}, "(did you mean train.learning_rate?)"),
        ({"trian.epochs": {"low": 1, "high": 5}}, "'trian.epochs' is not a params key (did you mean train?)"),
        ({"train": {"low": 1, "high": 5}}, "'train' is not a params key"),
        ({"seed.x": {"low": 1, "high": 5}}, "'seed.x' is not a params key (seed is a single value)"),
        ({"tune.trials": {"low": 1, "high": 5}}, "the tune section cannot search itself"),
        # export's params only matter to stages after until (auto: train, for train.val_accuracy).
        ({"export.sparsity": {"low": 0.3, "high": 0.6}}, "no stage through tune.until (train) reads it"),
        (
            {"model.dropout": {"low": 0.2, "high": 1.0}},
            "tune.space.model.dropout: high 1.0 is not a valid model.dropout",
        ),
        ({"train.epochs": {"low": 0, "high": 5}}, "tune.space.train.epochs: low 0 is not a valid train.epochs"),
        (
            {"train.epochs": {"low": 2.0, "high": 5}},
            "low 2.0 is not a valid train.epochs: Input should be a valid integer",
        ),
        ({"model.filters": {"choices": [[32, 64], [0, 8]]}}, "tune.space.model.filters: choice [0, 8] is not a valid"),
        ({"model.arch": {"choices": ["small_convnet", "vgg"]}}, "choice 'vgg' is not a valid model.arch"),
    ],
)
def test_a_bad_space_is_refused_naming_the_key(space, expected):
    with pytest.raises(params.ParamsError, match="^params.yaml: tune.") as refused:
        check(space=space, baseline=False)
    assert expected in str(refused.value)


def test_a_key_read_by_a_later_stage_counts_once_until_reaches_it():
    assert check(space={"export.sparsity": {"low": 0.3, "high": 0.6}}, baseline=False, until="export")


def test_the_baseline_must_lie_in_the_space():
    with pytest.raises(params.ParamsError, match=r"tune.baseline: params.yaml's model.dropout \(0.5\) lies outside"):
        check(space={"model.dropout": {"low": 0.1, "high": 0.3}})
    with pytest.raises(params.ParamsError, match=r"model.filters \(\[32, 64, 128\]\) lies outside"):
        check(space={"model.filters": {"choices": [[16, 32, 64]]}})
    assert check(space={"model.dropout": {"low": 0.1, "high": 0.3}}, baseline=False)


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"until": "train", "objectives": {"val.accuracy": "maximize"}},
            "tune.objectives: val.accuracy comes from metrics.json, written by stage evaluate",
        ),
        ({"until": "predict"}, "tune.until: 'predict' is not a stage of dvc.yaml"),
        (
            {"objectives": {"val.acuracy": "maximize"}},
            "val.acuracy is not a metric of reports/metrics.json (close: val.accuracy",
        ),
        (
            {"objectives": {"export.tflite_int8.size_bytes": "minimize"}, "until": "evaluate"},
            "export.tflite_int8.size_bytes comes from export.json, written by stage export, after tune.until",
        ),
    ],
)
def test_objectives_and_until_are_checked(changes, expected):
    with pytest.raises(params.ParamsError) as refused:
        check(**changes)
    assert expected in str(refused.value)


def test_an_export_objective_needs_its_artifact_built():
    ok = {"until": "export", "pruner": "none"}
    assert check(objectives={"export.tflite_int8.size_bytes": "minimize"}, **ok)
    with pytest.raises(params.ParamsError, match="'onnx' is not built"):
        check(objectives={"export.onnx.size_bytes": "minimize"}, top={"export": {"formats": ["tflite_int8"]}}, **ok)
    # Without reports to compare with (never run), the key's form is enough.
    assert check(reports={}, objectives={"export.tflite_int8.latency_p50_ms": "minimize"}, **ok)


def test_no_tune_section_is_refused():
    raw = copy.deepcopy(GOOD)
    del raw["tune"]
    with pytest.raises(params.ParamsError, match="no tune: section"):
        checks.check(params.parse(raw), STAGES, REPORTS)
