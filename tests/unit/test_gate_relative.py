"""Gate rules relative to another metric of the same reports."""

import pytest

from convpipe.core.params import ParamsError, Rule, parse
from convpipe.ops import gate


def test_max_below_passes_within_and_fails_beyond_the_reference():
    rule = Rule(relative_to="export.keras.accuracy", max_below=0.01)
    assert gate.judge("export.tflite_int8.accuracy", rule, 0.971, None, reference=0.975).passed
    verdict = gate.judge("export.tflite_int8.accuracy", rule, 0.96, None, reference=0.975)
    assert not verdict.passed
    assert "below export.keras.accuracy" in verdict.failures[0]


def test_max_ratio_holds_size_against_another_artifact():
    rule = Rule(relative_to="export.tflite_float32.size_bytes", max_ratio=0.30)
    assert gate.judge("export.tflite_int8.size_bytes", rule, 29_000, None, reference=100_000).passed
    verdict = gate.judge("export.tflite_int8.size_bytes", rule, 31_000, None, reference=100_000)
    assert verdict.failures == ("0.31 × export.tflite_float32.size_bytes > 0.3",)


def test_min_ratio():
    rule = Rule(relative_to="b", min_ratio=0.5)
    assert not gate.judge("a", rule, 4.0, None, reference=10.0).passed
    assert gate.judge("a", rule, 5.0, None, reference=10.0).passed


def test_missing_or_zero_reference_fails_with_its_name():
    assert gate.judge("a", Rule(relative_to="b", max_below=0.1), 1.0, None).failures == (
        "b missing from the current reports",
    )
    assert gate.judge("a", Rule(relative_to="b", max_ratio=2), 1.0, None, reference=0.0).failures == (
        "b is 0, so no ratio",
    )


def test_run_gate_takes_the_reference_from_the_current_reports():
    rules = {"export.tflite_int8.accuracy": Rule(min=0.9, relative_to="export.keras.accuracy", max_below=0.01)}
    current = {"export.tflite_int8.accuracy": 0.95, "export.keras.accuracy": 0.97}
    baseline = {"export.tflite_int8.accuracy": 0.5, "export.keras.accuracy": 0.95}
    [verdict] = gate.run_gate(rules, current, baseline)
    assert verdict.failures == ("0.02 below export.keras.accuracy (0.97) > 0.01",)
    assert verdict.threshold == ">= 0.9, >= export.keras.accuracy - 0.01"


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"relative_to": "export.keras.accuracy"}, "a rule needs at least one of"),
        ({"min": 0.5, "relative_to": "export.keras.accuracy"}, "relative_to and max_below"),
        ({"max_ratio": 0.3}, "relative_to and max_below"),
        ({"relative_to": "x", "max_below": -0.1}, "greater than or equal to 0"),
    ],
)
def test_incomplete_relative_rules_are_rejected_naming_the_key(rule, message):
    with pytest.raises(ParamsError, match=message) as raised:
        _parse_with_rule(rule)
    assert "gate.rules" in str(raised.value)


def _parse_with_rule(rule: dict):
    import yaml

    with open("params.yaml", encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    raw["gate"]["rules"] = {"export.tflite_int8.accuracy": rule}
    return parse(raw)


def test_params_yaml_holds_the_relative_export_rules():
    import convpipe.core.params

    rules = convpipe.core.params.load_params().gate.rules
    assert rules["export.tflite_int8.size_bytes"] == Rule(
        relative_to="export.tflite_float32.size_bytes", max_ratio=0.30
    )
    assert rules["export.tflite_qat_int8.accuracy"].max_below == 0.01
