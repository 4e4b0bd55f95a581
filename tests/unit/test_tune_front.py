"""A study's result: its rows, the Pareto front, the table and the plot."""

import json

import optuna
from optuna.trial import TrialState, create_trial
from PIL import Image

from convpipe.core.params import SearchChoices, SearchRange
from convpipe.tune import front

SPACE = {"model.dropout": SearchRange(low=0.1, high=0.5), "model.filters": SearchChoices(choices=[[8, 16], [16, 32]])}
DISTRIBUTIONS = {
    "model.dropout": optuna.distributions.FloatDistribution(0.1, 0.5),
    "model.filters": optuna.distributions.CategoricalDistribution(["[8, 16]", "[16, 32]"]),
}
OBJECTIVES = {"val.accuracy": "maximize", "export.tflite_int8.size_bytes": "minimize"}


def add(study, number, state=TrialState.COMPLETE, values=None, seconds=60.0, trained=True, **attrs):
    params = {"model.dropout": 0.1 + number / 100, "model.filters": "[8, 16]" if number % 2 else "[16, 32]"}
    study.add_trial(
        create_trial(
            state=state,
            values=values,
            params=params,
            distributions=DISTRIBUTIONS,
            user_attrs={"experiment": f"s-{number}", "seconds": seconds, "trained": trained, **attrs},
            intermediate_values={0: 1.0} if state == TrialState.PRUNED else None,
        )
    )


def two_objective_study():
    study = optuna.create_study(directions=["maximize", "minimize"])
    add(study, 0, values=[0.95, 50_000])  # front: smallest
    add(study, 1, values=[0.97, 120_000])  # front
    add(study, 2, values=[0.96, 130_000])  # dominated by 1
    add(study, 3, values=[0.99, 400_000])  # front: most accurate
    add(study, 4, state=TrialState.PRUNED, seconds=15.0, pruned_at_epoch=2)
    add(study, 5, state=TrialState.FAIL, seconds=5.0, error="train: error: out of memory")
    return study


def test_the_front_holds_the_undominated_trials_by_first_objective():
    study = two_objective_study()
    assert front.front(study) == [0, 1, 3]


def test_one_objective_gives_the_best():
    study = optuna.create_study(direction="maximize")
    for number, value in enumerate([0.95, 0.99, 0.97]):
        add(study, number, values=[value])
    assert front.front(study) == [1]


def test_rows_and_table_show_every_trial_with_the_front_marked():
    study = two_objective_study()
    rows = front.rows(study, SPACE)
    assert [row.state for row in rows] == ["complete"] * 4 + ["pruned", "failed"]
    assert rows[1].params == {"model.dropout": 0.11, "model.filters": [8, 16]}  # list choices decoded
    assert rows[4].note == "after train epoch 3"
    assert rows[5].note == "train: error: out of memory"
    text = front.table(rows, OBJECTIVES, front.front(study)).splitlines()
    assert text[0].split() == [
        "experiment",
        "state",
        "val.accuracy",
        "export.tflite_int8.size_bytes",
        "model.dropout",
        "model.filters",
        "time",
        "note",
    ]
    assert text[2].split() == ["*", "s-1", "complete", "0.97", "120,000", "0.11", "[8,16]", "60", "s"]
    assert text[3].split()[:2] == ["s-2", "complete"]  # dominated: no mark
    assert text[5].split() == ["s-4", "pruned", "—", "—", "0.14", "[16,32]", "15", "s", "after", "train", "epoch", "3"]


def test_pruning_saved_compares_with_complete_trials_that_trained():
    rows = front.rows(two_objective_study(), SPACE)
    assert front.pruning_saved(rows) == (1, 45.0)
    untrained = [row for row in rows if row.state != "complete"]
    assert front.pruning_saved(untrained) == (1, None)


def test_summary_and_plot(tmp_path):
    study = two_objective_study()
    rows, on_front = front.rows(study, SPACE), front.front(study)
    summary = front.summary(rows, OBJECTIVES, on_front)
    assert summary["front"] == ["s-0", "s-1", "s-3"]
    assert summary["trials"] == {"complete": 4, "pruned": 1, "failed": 1}
    json.dumps(summary)  # it goes to MLflow as JSON
    path = front.plot(rows, OBJECTIVES, on_front, tmp_path / "tune.png")
    with Image.open(path) as image:
        assert image.width > 500
    single = {"val.accuracy": "maximize"}
    study = optuna.create_study(direction="maximize")
    for number, value in enumerate([0.95, 0.99]):
        add(study, number, values=[value])
    add(study, 2, state=TrialState.PRUNED)
    assert front.plot(front.rows(study, SPACE), single, front.front(study), tmp_path / "one.png").exists()


def test_number_text():
    assert [front.number_text(v) for v in (0.985294, 123912.0, 0.00123456, 3, [16, 32], "none")] == [
        "0.9853",
        "123,912",
        "0.001235",
        "3",
        "[16,32]",
        "none",
    ]
