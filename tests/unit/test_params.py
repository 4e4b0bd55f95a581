"""params.yaml validation: every bad value is refused with the key's name."""

import copy

import pytest
import yaml

from convpipe.core import params

with open("params.yaml", encoding="utf-8") as handle:
    GOOD = yaml.safe_load(handle)


def with_change(path: str, value):
    raw = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[last] = value
    return raw


def test_the_committed_params_are_valid():
    loaded = params.load_params()
    assert loaded.data.source == "sklearn:digits"
    assert loaded.augment.flip == "auto"  # none for the grayscale digits, which are not flip-invariant


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("train.learning_rate", -0.1, "train.learning_rate"),
        ("train.learning_rate", "fast", "train.learning_rate"),
        ("train.epochs", 0, "train.epochs"),
        ("train.batch_size", 2.5, "train.batch_size"),
        ("train.epochs", True, "train.epochs"),
        ("data.image_size", [32], "data.image_size"),
        ("data.image_size", [32, -1], "data.image_size"),
        ("data.color_mode", "cmyk", "data.color_mode"),
        ("data.source", "s3:bucket", "data.source"),
        ("data.val_fraction", 1.5, "data.val_fraction"),
        ("augment.flip", "diagonal", "augment.flip"),
        ("model.arch", "transformer", "model.arch"),
        ("finetune.unfreeze", "some", "finetune.unfreeze"),
        ("export.formats", ["tflite_int8", "pickle"], "export.formats"),
        ("seed", -1, "seed"),
    ],
)
def test_a_bad_value_names_its_key(path, value, expected):
    with pytest.raises(params.ParamsError, match=expected.replace(".", r"\.")):
        params.parse(with_change(path, value))


def test_an_unknown_key_is_refused_by_name():
    raw = with_change("train.learnig_rate", 0.1)
    with pytest.raises(params.ParamsError, match=r"train\.learnig_rate: unknown key"):
        params.parse(raw)


def test_a_missing_section_is_named():
    raw = copy.deepcopy(GOOD)
    del raw["finetune"]
    with pytest.raises(params.ParamsError, match="finetune: missing"):
        params.parse(raw)


def test_fractions_must_leave_room_for_training():
    raw = with_change("data.val_fraction", 0.5)
    raw["data"]["test_fraction"] = 0.45
    with pytest.raises(params.ParamsError, match="at least 10% for training"):
        params.parse(raw)


def test_an_empty_gate_rule_is_refused():
    raw = with_change("gate.rules", {"test.accuracy": {}})
    with pytest.raises(params.ParamsError, match=r"gate\.rules"):
        params.parse(raw)


def test_malformed_yaml_names_the_file(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(params.ParamsError, match=str(bad)):
        params.load_params(bad)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(params.ParamsError, match="not found"):
        params.load_params(tmp_path / "params.yaml")


def test_a_non_mapping_is_refused():
    with pytest.raises(params.ParamsError, match="expected a mapping"):
        params.parse(["seed", 1])


def test_flat_and_digest():
    loaded = params.parse(GOOD)
    flat = loaded.flat()
    assert flat["train.learning_rate"] == GOOD["train"]["learning_rate"]
    assert flat["gate.rules.test.accuracy.min"] == GOOD["gate"]["rules"]["test.accuracy"]["min"]
    assert loaded.digest() == params.parse(copy.deepcopy(GOOD)).digest()
    assert loaded.digest() != params.parse(with_change("train.learning_rate", 0.01)).digest()
