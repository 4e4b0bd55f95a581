"""What `convpipe tune` checks before any trial runs; each failure names the params key at fault."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import yaml
from optuna.distributions import CategoricalDistribution

from convpipe.core.params import PARAMS_FILE, Params, ParamsError, SearchChoices, SearchRange, Tune, parse
from convpipe.core.paths import PIPELINE_FILE
from convpipe.ops.gate import REPORT_FILES
from convpipe.tune.space import distribution


def pipeline_stages(path: Path | str = PIPELINE_FILE) -> dict[str, dict]:
    """dvc.yaml's stages, in pipeline order."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["stages"]


def stages_through(until: str, stages: dict[str, dict]) -> list[str]:
    """The stages a trial runs: every stage up to `until` in dvc.yaml's order (its ancestors alone could skip
    a report an objective reads, such as evaluate's before export)."""
    names = list(stages)
    if until not in names:
        raise ParamsError(f"{PARAMS_FILE}: tune.until: {until!r} is not a stage of dvc.yaml ({', '.join(names)})")
    return names[: names.index(until) + 1]


def check(params: Params, stages: dict[str, dict], reports: dict[str, float]) -> Tune:
    """The tune section, once its space, baseline, until and objectives all hold, with `until: auto` resolved;
    else ParamsError naming the key.

    `reports` are the workspace's report metrics (gate.read_workspace): objectives must name one of them.
    """
    tune = params.tune
    if tune is None:
        raise ParamsError(f"{PARAMS_FILE}: no tune: section (the search space and objectives of `convpipe tune`)")
    if tune.until == "auto":
        tune = tune.model_copy(update={"until": last_writer(tune.objectives, stages)})
    run = stages_through(tune.until, stages)
    raw = params.model_dump(mode="json")
    for key, entry in tune.space.items():
        _check_key(key, run, stages)
        for end, value in ends(entry):
            _check_value(raw, key, end, value)
    if tune.baseline:
        for key, entry in tune.space.items():
            _check_baseline(key, entry, current(raw, key))
    for key in tune.objectives:
        _check_objective(key, tune, params, run, stages, reports)
    return tune


def _fail(message: str) -> ParamsError:
    return ParamsError(f"{PARAMS_FILE}: {message}")


def _section_fields(section: str) -> list[str] | None:
    """The keys of a params section, or None when `section` names a single value (seed)."""
    field = Params.model_fields[section]
    model = field.annotation
    return list(model.model_fields) if isinstance(model, type) and hasattr(model, "model_fields") else None


def _check_key(key: str, run: list[str], stages: dict[str, dict]) -> None:
    """`key` is a params value (seed, or section.key) that a stage the trials run reads."""
    section, _, name = key.partition(".")
    where = f"tune.space: {key!r}"
    if section == "tune":
        raise _fail(f"{where}: the tune section cannot search itself")
    if section not in Params.model_fields:
        close = difflib.get_close_matches(section, list(Params.model_fields), 1)
        raise _fail(f"{where} is not a params key" + (f" (did you mean {close[0]}?)" if close else ""))
    fields = _section_fields(section)
    if fields is None and name:
        raise _fail(f"{where} is not a params key ({section} is a single value)")
    if fields is not None and name not in fields:
        close = difflib.get_close_matches(name, fields, 1)
        hint = f"did you mean {section}.{close[0]}?" if close else f"{section} has {', '.join(fields)}"
        raise _fail(f"{where} is not a params key ({hint})")
    readers = [stage for stage in run if _reads(stages[stage], key)]
    if not readers:
        raise _fail(f"{where}: no stage through tune.until ({run[-1]}) reads it (see dvc.yaml params:)")


def _reads(stage: dict, key: str) -> bool:
    """Whether dvc.yaml lists `key`, or its whole section, among a stage's params."""
    listed = [entry for entry in stage.get("params", []) if isinstance(entry, str)]
    return key in listed or key.partition(".")[0] in listed


def ends(entry: SearchRange | SearchChoices) -> list[tuple[str, object]]:
    """The values to validate for an entry, as a trial would set them: both ends of a range, every choice."""
    sampled = distribution(entry)
    if isinstance(sampled, CategoricalDistribution):
        return [("choice", choice) for choice in entry.choices]
    return [("low", sampled.low), ("high", sampled.high)]


def current(raw: dict, key: str) -> object:
    """The value of a dotted params key in a dumped Params tree."""
    section, _, name = key.partition(".")
    return raw[section][name] if name else raw[section]


def _check_value(raw: dict, key: str, end: str, value: object) -> None:
    """params.yaml with `key` set to `value` passes params validation."""
    changed = json.loads(json.dumps(raw))  # a deep copy of plain JSON data
    section, _, name = key.partition(".")
    if name:
        changed[section][name] = value
    else:
        changed[section] = value
    try:
        parse(changed, str(PARAMS_FILE))
    except ParamsError as err:
        reason = str(err).removeprefix(f"{PARAMS_FILE}: ").removeprefix(f"{key}: ")
        raise _fail(f"tune.space.{key}: {end} {value!r} is not a valid {key}: {reason}") from None


def _check_baseline(key: str, entry: SearchRange | SearchChoices, value: object) -> None:
    """params.yaml's own value of `key` lies in its space, so trial 0 can run it."""
    if isinstance(entry, SearchChoices):
        inside = json.dumps(value) in {json.dumps(choice) for choice in entry.choices}
    else:
        sampled = distribution(entry)
        inside = isinstance(value, (int, float)) and sampled.low <= value <= sampled.high
    if not inside:
        raise _fail(
            f"tune.baseline: params.yaml's {key} ({value!r}) lies outside tune.space.{key}; "
            "widen the space or set tune.baseline: false"
        )


def report_file(metric: str) -> str:
    """The report a metric key comes from, by gate's prefixes: export.* from export.json, the rest metrics.json."""
    prefixed = [name for name, prefix in REPORT_FILES.items() if prefix and metric.startswith(prefix)]
    return prefixed[0] if prefixed else next(name for name, prefix in REPORT_FILES.items() if not prefix)


def writer(report: str, stages: dict[str, dict]) -> str | None:
    """The stage whose dvc.yaml metrics: write `report`."""
    for name, stage in stages.items():
        for entry in stage.get("metrics", []):
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            if str(path).rsplit("/", 1)[-1] == report:
                return name
    return None


def last_writer(objectives: dict[str, str], stages: dict[str, dict]) -> str:
    """`until: auto`: the last stage, in dvc.yaml's order, that writes an objective's report, so that trials run
    no further than their objectives need (train for train.*, evaluate for val.*/test.*, export for export.*)."""
    writers = {writer(report_file(key), stages) for key in objectives}
    names = list(stages)
    if None in writers:
        unknown = [key for key in objectives if writer(report_file(key), stages) is None]
        raise _fail(f"tune.objectives: {unknown[0]}: no stage of dvc.yaml writes {report_file(unknown[0])}")
    return max(writers, key=names.index)


def _check_objective(
    key: str, tune: Tune, params: Params, run: list[str], stages: dict[str, dict], reports: dict[str, float]
) -> None:
    """An objective comes from a report that a stage the trials run writes, and names one of its metrics."""
    where = f"tune.objectives: {key}"
    report = report_file(key)
    stage = writer(report, stages)
    if stage not in run:
        raise _fail(f"{where} comes from {report}, written by stage {stage}, after tune.until: set tune.until: {stage}")
    if report == "export.json" and "export.formats" not in tune.space:
        artifact = key.split(".")[1]
        if artifact not in ("keras", *params.export.formats):
            raise _fail(f"{where}: {artifact!r} is not built (export.formats: {', '.join(params.export.formats)})")
    known = sorted(metric for metric in reports if report_file(metric) == report)
    if known and key not in known:
        close = difflib.get_close_matches(key, known, 3)
        raise _fail(f"{where} is not a metric of reports/{report}" + (f" (close: {', '.join(close)})" if close else ""))


def baseline_values(params: Params) -> dict[str, object]:
    """params.yaml's own values of the space keys, for trial 0."""
    raw = params.model_dump(mode="json")
    return {key: current(raw, key) for key in params.tune.space}
