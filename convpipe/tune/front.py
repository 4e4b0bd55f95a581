"""A study's result: a row per trial, the Pareto front, the table `convpipe tune` prints and the plot it draws."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from convpipe.core.atomic import atomic_path
from convpipe.core.params import SearchChoices, SearchRange
from convpipe.tune.space import decoded
from convpipe.tune.storage import PRUNED_AT

# Trial user attrs the driver sets (read back here); INTERRUPTED holds the reason, PRUNED_AT the epoch.
EXPERIMENT, SECONDS, TRAINED, ERROR, INTERRUPTED = "experiment", "seconds", "trained", "error", "interrupted"
STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
}


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table and plot show it."""

    number: int
    experiment: str
    state: str  # complete | pruned | failed | interrupted | running
    values: tuple[float, ...] | None  # the objectives, in tune.objectives' order (complete trials only)
    params: dict[str, object]
    seconds: float | None  # wall time of its `dvc exp run`
    trained: bool  # whether its train stage ran (not restored from DVC's run-cache)
    note: str = ""  # why it was pruned, failed or interrupted


def rows(study: optuna.Study, space: dict[str, SearchRange | SearchChoices]) -> list[TrialRow]:
    """Every trial the study started, in order."""
    found = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.WAITING:
            continue
        attrs = trial.user_attrs
        state = "interrupted" if attrs.get(INTERRUPTED) else STATES[trial.state]
        note = attrs.get(INTERRUPTED) or attrs.get(ERROR) or ""
        if PRUNED_AT in attrs:
            note = f"after train epoch {attrs[PRUNED_AT] + 1}"
        found.append(
            TrialRow(
                number=trial.number,
                experiment=attrs.get(EXPERIMENT, ""),
                state=state,
                values=tuple(trial.values) if trial.state == TrialState.COMPLETE else None,
                params=decoded(space, trial.params),
                seconds=attrs.get(SECONDS),
                trained=bool(attrs.get(TRAINED)),
                note=note,
            )
        )
    return found


def front(study: optuna.Study) -> list[int]:
    """Numbers of the trials on the Pareto front (with one objective: the best), by their first objective."""
    best = study.best_trials
    return [trial.number for trial in sorted(best, key=lambda trial: (trial.values[0], trial.number))]


def number_text(value: object) -> str:
    """A value as a table cell: 4 significant digits, whole numbers of 1,000 and more with separators."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else str(value)
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.4g}"


def table(found: list[TrialRow], objectives: dict[str, str], on_front: list[int]) -> str:
    """A fixed-width table of `found`, a `*` marking the front."""
    keys = list(dict.fromkeys(key for row in found for key in row.params))
    lines = [["", "experiment", "state", *objectives, *keys, "time", "note"]]
    for row in found:
        values = [number_text(v) for v in row.values] if row.values else ["—"] * len(objectives)
        params = [number_text(row.params[key]) if key in row.params else "" for key in keys]
        seconds = f"{row.seconds:.0f} s" if row.seconds is not None else ""
        mark = "*" if row.number in on_front else ""
        lines.append([mark, row.experiment, row.state, *values, *params, seconds, row.note])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1] for line in lines)


def pruning_saved(found: list[TrialRow]) -> tuple[int, float | None]:
    """How many trials were pruned, and the wall time that saved: each pruned trial's time against the mean of
    the complete trials that trained (None when there is no such trial to compare with)."""
    pruned = [row.seconds for row in found if row.state == "pruned" and row.seconds is not None]
    full = [row.seconds for row in found if row.state == "complete" and row.trained and row.seconds is not None]
    if not full:
        return len(pruned), None
    mean = sum(full) / len(full)
    return len(pruned), sum(max(0.0, mean - seconds) for seconds in pruned)


def summary(found: list[TrialRow], objectives: dict[str, str], on_front: list[int]) -> dict:
    """The study as JSON: counts, the front and every trial."""
    counts = {state: sum(row.state == state for row in found) for state in dict.fromkeys(r.state for r in found)}
    pruned, saved = pruning_saved(found)
    return {
        "objectives": objectives,
        "trials": counts,
        "pruned": pruned,
        "pruning_saved_s": saved,
        "front": [row.experiment for number in on_front for row in found if row.number == number],
        "rows": [asdict(row) for row in found],
    }


def plot(found: list[TrialRow], objectives: dict[str, str], on_front: list[int], path: Path) -> Path:
    """reports/tune.png: one objective against trial number with the best marked, or each further objective
    against the first with the Pareto front joined; front points carry their experiment's name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(objectives)
    complete = [row for row in found if row.values]
    best = [row for row in complete if row.number in on_front]
    label = [f"{name} ({objectives[name]})" for name in names]
    panels = max(1, len(names) - 1)
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.5), squeeze=False)
    for k, ax in enumerate(axes[0], start=1):
        if len(names) == 1:
            xs, ys = [row.number for row in complete], [row.values[0] for row in complete]
            ax.set_xlabel("trial")
            ax.set_ylabel(label[0])
            pruned = [row.number for row in found if row.state == "pruned"]
            if pruned:
                ax.plot(pruned, [min(ys, default=0)] * len(pruned), "x", color="tab:red", label="pruned")
            front_xy = [(row.number, row.values[0], row.experiment) for row in best]
        else:
            xs, ys = [row.values[0] for row in complete], [row.values[k] for row in complete]
            ax.set_xlabel(label[0])
            ax.set_ylabel(label[k])
            front_xy = sorted((row.values[0], row.values[k], row.experiment) for row in best)
            ax.plot([x for x, _, _ in front_xy], [y for _, y, _ in front_xy], "-", color="tab:blue", alpha=0.5)
        ax.plot(xs, ys, "o", color="0.6", label="complete")
        ax.plot([x for x, _, _ in front_xy], [y for _, y, _ in front_xy], "o", color="tab:blue", label="front")
        for x, y, name in front_xy:
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{len(complete)} complete of {len(found)} trials; front: {len(best)}")
    fig.tight_layout()
    with atomic_path(path) as part:
        fig.savefig(part, dpi=110)
    plt.close(fig)
    return path
