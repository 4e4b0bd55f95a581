"""The regression gate: reports/*.json against a baseline revision, rule by rule (TFX-style)."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

from convpipe.core.params import Rule, flatten

# Report file → prefix of its keys in rules (metrics.json's keys are used bare: test.accuracy).
REPORT_FILES = {"metrics.json": "", "export.json": "export.", "train.json": "train."}


@dataclass(frozen=True)
class Verdict:
    metric: str
    baseline: float | None
    current: float | None
    threshold: str
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline


def numbers(tree: dict, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a report, as dotted keys."""
    return {
        prefix + k: float(v)
        for k, v in flatten(tree).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def parse_report(data: bytes, where: str) -> dict:
    """A report file's JSON object; ValueError naming `where` when it is not one (truncated, binary, a list)."""
    try:
        report = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not UTF-8 text (byte {err.start}); a report file is JSON") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON: {err}") from None
    if not isinstance(report, dict):
        raise ValueError(f"{where}: expected a JSON object of metrics, got a {type(report).__name__}")
    return report


def read_workspace(reports_dir: Path) -> dict[str, float]:
    """Numeric metrics of the report files in the working tree."""
    values: dict[str, float] = {}
    for name, prefix in REPORT_FILES.items():
        path = Path(reports_dir) / name
        if path.exists():
            values.update(numbers(parse_report(path.read_bytes(), str(path)), prefix))
    return values


def read_revision(reports_dir: Path, rev: str) -> dict[str, float] | None:
    """Numeric metrics of the report files committed at `rev`; None when it has none."""
    exists = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True)
    if exists.returncode != 0:
        if rev == "HEAD":  # a repository without commits yet has no baseline
            return None
        raise ValueError(f"git revision {rev!r} not found")
    values: dict[str, float] = {}
    found = False
    for name, prefix in REPORT_FILES.items():
        path = Path(reports_dir) / name
        shown = subprocess.run(["git", "show", f"{rev}:./{path}"], capture_output=True)
        if shown.returncode == 0:
            found = True
            values.update(numbers(parse_report(shown.stdout, f"{path} at {rev}"), prefix))
    return values if found else None


# How each bound of a Rule reads, in the order a rule is described.
BOUND_TEXT = {
    "min": ">= {value:g}",
    "max": "<= {value:g}",
    "max_drop": "drop <= {value:g}",
    "max_rise": "rise <= {value:g}",
    "max_below": ">= {reference} - {value:g}",
    "min_ratio": ">= {value:g} × {reference}",
    "max_ratio": "<= {value:g} × {reference}",
}


def describe(rule: Rule) -> str:
    """A rule as people write it: '>= 0.97, drop <= 0.01'."""
    return ", ".join(
        text.format(value=getattr(rule, bound), reference=rule.relative_to)
        for bound, text in BOUND_TEXT.items()
        if getattr(rule, bound) is not None
    )


def relative_failures(rule: Rule, current: float, reference: float | None) -> list[str]:
    """How `current` breaks the rule's bounds relative to the `rule.relative_to` metric's value."""
    name = rule.relative_to
    if reference is None:
        return [f"{name} missing from the current reports"]
    if not math.isfinite(reference):
        return [f"{name} is {reference}, not a finite number"]
    failures = []
    if rule.max_below is not None and reference - current > rule.max_below + 1e-12:
        failures.append(f"{reference - current:.4g} below {name} ({reference:.4g}) > {rule.max_below:g}")
    if rule.min_ratio is not None or rule.max_ratio is not None:
        if reference == 0:
            return failures + [f"{name} is 0, so no ratio"]
        ratio = current / reference
        if rule.min_ratio is not None and ratio < rule.min_ratio - 1e-12:
            failures.append(f"{ratio:.4g} × {name} < {rule.min_ratio:g}")
        if rule.max_ratio is not None and ratio > rule.max_ratio + 1e-12:
            failures.append(f"{ratio:.4g} × {name} > {rule.max_ratio:g}")
    return failures


def change_failures(rule: Rule, current: float, baseline: float) -> list[str]:
    """How the change from `baseline` to `current` breaks the rule's max_drop and max_rise."""
    if not math.isfinite(baseline):
        return [f"baseline {baseline} is not a finite number"]
    failures = []
    # A tiny tolerance keeps float noise in a re-serialised JSON from failing a zero-change rule.
    if rule.max_drop is not None and baseline - current > rule.max_drop + 1e-12:
        failures.append(f"dropped {baseline - current:.4g} > {rule.max_drop:g}")
    if rule.max_rise is not None and current - baseline > rule.max_rise + 1e-12:
        failures.append(f"rose {current - baseline:.4g} > {rule.max_rise:g}")
    return failures


def judge(
    metric: str, rule: Rule, current: float | None, baseline: float | None, reference: float | None = None
) -> Verdict:
    """Check one metric against its value bounds, its allowed change and the metric it is relative to."""
    failures = []
    if current is None:
        failures.append("missing from the current reports")
    elif not math.isfinite(current):
        # json reads Infinity, -Infinity, NaN and 1e999 as floats; no bound can judge them.
        failures.append(f"{current} is not a finite number")
    else:
        if rule.min is not None and current < rule.min:
            failures.append(f"below {rule.min:g}")
        if rule.max is not None and current > rule.max:
            failures.append(f"above {rule.max:g}")
        if baseline is not None and (rule.max_drop is not None or rule.max_rise is not None):
            failures += change_failures(rule, current, baseline)
        if rule.relative_to is not None:
            failures += relative_failures(rule, current, reference)
    return Verdict(metric, baseline, current, describe(rule), tuple(failures))


def run_gate(rules: dict[str, Rule], current: dict[str, float], baseline: dict[str, float] | None) -> list[Verdict]:
    """One verdict per rule, in the order the rules are written."""
    return [
        judge(
            metric,
            rule,
            current.get(metric),
            None if baseline is None else baseline.get(metric),
            None if rule.relative_to is None else current.get(rule.relative_to),
        )
        for metric, rule in rules.items()
    ]


def table(verdicts: list[Verdict]) -> str:
    """A fixed-width table: metric, baseline, current, delta, threshold, verdict."""

    def fmt(value: float | None, signed: bool = False) -> str:
        return "—" if value is None else f"{value:+.4f}" if signed else f"{value:.4f}"

    rows = [("metric", "baseline", "current", "delta", "threshold", "verdict")]
    rows += [
        (
            v.metric,
            fmt(v.baseline),
            fmt(v.current),
            fmt(v.delta, signed=True),
            v.threshold,
            "pass" if v.passed else "FAIL: " + "; ".join(v.failures),
        )
        for v in verdicts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)
