"""The gate's verdicts: pass, fail on value, fail on change, first run, missing metric."""

from convpipe.core.params import Rule
from convpipe.ops.gate import judge, numbers, run_gate, table

ACCURACY = Rule(min=0.97, max_drop=0.01)


def test_passes_within_both_thresholds():
    verdict = judge("test.accuracy", ACCURACY, current=0.975, baseline=0.98)
    assert verdict.passed
    assert abs(verdict.delta - (-0.005)) < 1e-12


def test_fails_on_value_below_min():
    verdict = judge("test.accuracy", ACCURACY, current=0.96, baseline=0.965)
    assert verdict.failures == ("below 0.97",)


def test_fails_on_a_drop_larger_than_allowed():
    verdict = judge("test.accuracy", ACCURACY, current=0.975, baseline=0.99)
    assert not verdict.passed
    assert verdict.failures[0].startswith("dropped 0.015")


def test_an_exact_drop_at_the_limit_passes():
    assert judge("test.accuracy", ACCURACY, current=0.98, baseline=0.99).passed


def test_first_run_checks_values_only():
    assert judge("test.accuracy", ACCURACY, current=0.975, baseline=None).passed
    assert not judge("test.accuracy", ACCURACY, current=0.9, baseline=None).passed


def test_rise_and_max_rules_for_lower_is_better_metrics():
    latency = Rule(max=5.0, max_rise=1.0)
    assert judge("export.onnx.latency_ms", latency, 2.0, 1.5).passed
    assert judge("export.onnx.latency_ms", latency, 3.0, 1.5).failures == ("rose 1.5 > 1",)
    assert judge("export.onnx.latency_ms", latency, 6.0, 5.5).failures == ("above 5",)


def test_a_metric_missing_from_the_reports_fails():
    verdicts = run_gate({"test.top5": Rule(min=0.5)}, current={"test.accuracy": 1.0}, baseline=None)
    assert verdicts[0].failures == ("missing from the current reports",)


def test_numbers_flattens_reports_and_skips_text():
    report = {"tflite_int8": {"accuracy": 0.98, "runtime": "LiteRT", "size_bytes": 100, "ok": True}}
    assert numbers(report, "export.") == {"export.tflite_int8.accuracy": 0.98, "export.tflite_int8.size_bytes": 100.0}


def test_table_lists_every_rule_with_its_verdict():
    verdicts = run_gate(
        {"test.accuracy": ACCURACY, "test.macro_f1": Rule(min=0.5)},
        current={"test.accuracy": 0.95, "test.macro_f1": 0.9},
        baseline={"test.accuracy": 0.99},
    )
    lines = table(verdicts).splitlines()
    assert lines[0].split() == ["metric", "baseline", "current", "delta", "threshold", "verdict"]
    assert "FAIL: below 0.97; dropped 0.04 > 0.01" in lines[1]
    assert lines[2].split()[:4] == ["test.macro_f1", "—", "0.9000", "—"] and lines[2].endswith("pass")


def test_non_finite_values_fail_every_kind_of_rule():
    rules = {
        "bounded": Rule(min=0.5),
        "capped": Rule(max=1e9),
        "changed": Rule(max_drop=0.01, max_rise=0.01),
        "relative": Rule(relative_to="ref", max_below=0.01),
        "ratio": Rule(relative_to="ref", max_ratio=0.3),
    }
    for value in (float("inf"), float("-inf"), float("nan")):
        current = dict.fromkeys(rules, value) | {"ref": 0.9}
        verdicts = run_gate(rules, current, baseline=dict.fromkeys(rules, 0.9))
        assert [v.failures for v in verdicts] == [(f"{value} is not a finite number",)] * len(rules)


def test_a_non_finite_reference_or_baseline_fails_the_rules_that_use_it():
    relative = Rule(relative_to="export.keras.accuracy", max_below=0.01)
    verdict = judge("export.tflite_int8.accuracy", relative, 0.9, None, reference=float("-inf"))
    assert verdict.failures == ("export.keras.accuracy is -inf, not a finite number",)
    assert judge("test.accuracy", ACCURACY, 0.98, baseline=float("inf")).failures == (
        "baseline inf is not a finite number",
    )
    assert judge("test.accuracy", Rule(min=0.97), 0.98, baseline=float("nan")).passed  # no change rule: not used
