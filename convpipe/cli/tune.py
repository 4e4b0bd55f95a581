"""convpipe tune: search params.yaml's `tune.space`, every trial a DVC experiment, pruned early.

Prints each trial as it ends, then every trial with the best (or the Pareto front of several objectives)
marked; draws reports/tune.png and logs both to an MLflow run of the study. Nothing in the workspace changes:
apply a trial with `dvc exp apply NAME`.
"""

from __future__ import annotations

import argparse
import signal
import sys

from convpipe.core.params import PARAMS_FILE, load_params
from convpipe.tune.search import Interrupted, Request, run_study


def add_parser(subparsers) -> None:
    """Register `tune` and its options."""
    sub = subparsers.add_parser(
        "tune",
        help="hyperparameter search: each trial a DVC experiment (params.yaml tune:)",
        description=__doc__.split(": ", 1)[1].split("\n")[0],
    )
    sub.add_argument("-n", "--trials", type=int, help="trials the study runs in all (default: tune.trials)")
    sub.add_argument("-j", "--workers", type=int, help="trials run at once (default: tune.workers)")
    sub.add_argument(
        "--resume",
        action="store_true",
        help="continue the study tune.study names: finished trials are kept, interrupted ones run again",
    )


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{flag} must be at least 1, got {value}")


def run(args: argparse.Namespace) -> int:
    """0 when the study ran its trials; 1 when it stopped on failing trials; 128 + the signal when interrupted."""
    _positive(args.trials, "-n/--trials")
    _positive(args.workers, "-j/--workers")
    try:
        outcome = run_study(load_params(PARAMS_FILE), Request(args.trials, args.workers, args.resume))
    except KeyboardInterrupt as err:
        by = f" by {err}" if isinstance(err, Interrupted) else ""
        print(f"convpipe tune: interrupted{by}; `convpipe tune --resume` continues the study", file=sys.stderr)
        return 128 + (err.signum if isinstance(err, Interrupted) else signal.SIGINT)
    if outcome.stopped:
        print(f"convpipe tune: stopped early: {outcome.stopped}", file=sys.stderr)
        return 1
    return 0
