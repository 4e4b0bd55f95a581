"""params.yaml `tune.space` as Optuna distributions, and a trial's values as `dvc exp run -S` overrides."""

from __future__ import annotations

import json

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from convpipe.core.params import SearchChoices, SearchRange


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_text(entry: SearchRange | SearchChoices | None) -> bool:
    """Whether Optuna holds this entry's choices as JSON text: it takes scalar choices only, and some are lists."""
    return isinstance(entry, SearchChoices) and any(isinstance(choice, list) for choice in entry.choices)


def distribution(entry: SearchRange | SearchChoices) -> BaseDistribution:
    """The Optuna distribution of one space entry: integers when both ends (and the step) are integers."""
    if isinstance(entry, SearchChoices):
        return CategoricalDistribution([json.dumps(c) for c in entry.choices] if _as_text(entry) else entry.choices)
    if _is_int(entry.low) and _is_int(entry.high) and (entry.step is None or _is_int(entry.step)):
        return IntDistribution(entry.low, entry.high, log=entry.log, step=entry.step or 1)
    return FloatDistribution(float(entry.low), float(entry.high), log=entry.log, step=entry.step)


def distributions(space: dict[str, SearchRange | SearchChoices]) -> dict[str, BaseDistribution]:
    """Every space key's distribution, in the order params.yaml lists them."""
    return {key: distribution(entry) for key, entry in space.items()}


def decoded(space: dict[str, SearchRange | SearchChoices], values: dict[str, object]) -> dict[str, object]:
    """A trial's Optuna values as params values (JSON-encoded list choices back to lists)."""
    return {key: json.loads(value) if _as_text(space.get(key)) else value for key, value in values.items()}


def encoded(space: dict[str, SearchRange | SearchChoices], values: dict[str, object]) -> dict[str, object]:
    """Params values as Optuna stores them: the inverse of `decoded`."""
    return {key: json.dumps(value) if _as_text(space.get(key)) else value for key, value in values.items()}


def overrides(values: dict[str, object]) -> list[str]:
    """`-S ++key=value` arguments setting params values: `++` sets a key whether or not params.yaml writes it
    (a key left at its default), and JSON values are valid in Hydra's override grammar."""
    return [arg for key, value in values.items() for arg in ("-S", f"++{key}={json.dumps(value)}")]
