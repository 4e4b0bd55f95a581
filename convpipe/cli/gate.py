"""convpipe gate: fail (exit 1) when the workspace's metrics break the rules in params.yaml `gate:`.

With --promote, a passing gate moves the registry alias `champion` to the `candidate` version.
"""

from __future__ import annotations

import argparse

from convpipe.core.params import PARAMS_FILE, load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import tracking_uri
from convpipe.ops import gate, registry


def add_parser(subparsers) -> None:
    """Register `gate` and its options."""
    sub = subparsers.add_parser(
        "gate",
        help="compare reports/*.json with a baseline revision",
        description=__doc__.split(": ", 1)[1].split("\n")[0],
    )
    sub.add_argument("--rev", default="HEAD", help="git revision holding the baseline reports (default: HEAD)")
    sub.add_argument("--params", default=str(PARAMS_FILE), help="params file (default: params.yaml)")
    sub.add_argument(
        "--promote",
        action="store_true",
        help="when every rule passes, move the MLflow registry alias 'champion' to the "
        "'candidate' version of tracking.registered_model",
    )


def run(args: argparse.Namespace) -> int:
    """Print the verdict table; 0 when every rule passes, 1 otherwise."""
    settings = load_params(args.params)
    reports = load_paths().reports
    current = gate.read_workspace(reports)
    if not current:
        raise FileNotFoundError(f"{reports}: no metrics.json or export.json (run `dvc repro` first)")
    baseline = gate.read_revision(reports, args.rev)
    verdicts = gate.run_gate(settings.gate.rules, current, baseline)
    print(gate.table(verdicts))
    if baseline is None:
        print(f"\nNo baseline reports at {args.rev}: first run, so only the value thresholds were checked.")
    failed = [v.metric for v in verdicts if not v.passed]
    print(
        f"\ngate: {'FAILED on ' + ', '.join(failed) if failed else 'passed'} "
        f"({len(verdicts) - len(failed)}/{len(verdicts)} rules)"
    )
    if args.promote:
        promote(settings.tracking.registered_model, current, passed=not failed)
    return 1 if failed else 0


def promote(name: str, current: dict[str, float], passed: bool) -> None:
    """Move `champion` to the candidate version when the gate passed; say what happened either way."""
    if not passed:
        print(f"promote: gate failed, so {registry.CHAMPION!r} of {name!r} was not moved")
        return
    version = registry.promote(name, tracking_uri(), current)
    print(f"promote: {name!r} version {version} ({registry.CANDIDATE!r}) is now {registry.CHAMPION!r}")
