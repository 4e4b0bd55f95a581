"""convpipe label-issues: the likely mislabelled train/val images the label_check stage found, most doubtful first."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from convpipe.core.text import quote_path


def add_parser(subparsers) -> None:
    """Register `label-issues` and its options."""
    sub = subparsers.add_parser(
        "label-issues",
        help="print the likely mislabelled images (reports/label_issues.csv)",
        description=__doc__.split(": ", 1)[1],
    )
    sub.add_argument("--top", type=int, default=20, metavar="N", help="rows to print (default: 20; 0: all)")
    sub.add_argument("--json", action="store_true", help="print the counts and rows as one JSON object")
    sub.add_argument(
        "--reports", type=Path, default=Path("reports"), help="folder the label_check stage writes (default: reports)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the report; a missing one is a user error naming the file."""
    from convpipe.evaluate import label_issues

    if args.top < 0:
        raise ValueError(f"--top {args.top}: expected 0 (all) or more")
    found, counts = label_issues.read(args.reports)
    shown = found[: args.top] if args.top else found
    if args.json:
        print(json.dumps({**counts, "suspects": [asdict(s) for s in shown]}, indent=2))
        return 0
    print(
        f"{counts['total']} of {counts['checked']} train/val images look mislabelled ({counts['fraction']:.2%}; "
        f"features: {counts['features']}); showing {len(shown)}, most doubtful first"
    )
    for s in shown:
        print(
            f"{s.rank:>4}  {quote_path(s.path)}  {s.split}  given {quote_path(s.given_label)}  "
            f"suggested {quote_path(s.suggested_label)}  self-confidence {s.self_confidence:.4f}"
        )
    if found:
        print("exclude or relabel them reproducibly with data.exclude / data.relabel (files in data/review/)")
    return 0
