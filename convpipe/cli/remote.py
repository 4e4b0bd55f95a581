"""convpipe remote: check that a DVC remote answers and accepts the credentials, e.g. before `dvc repro --pull`."""

from __future__ import annotations

import argparse

from convpipe.ops import remote


def add_parser(subparsers) -> None:
    """Register `remote` and its argument."""
    sub = subparsers.add_parser(
        "remote", help="check a DVC remote (reachable, credentials accepted)", description=__doc__.split(": ", 1)[1]
    )
    sub.add_argument("name", nargs="?", help="DVC remote name (default: the project's default remote)")


def run(args: argparse.Namespace) -> int:
    """Print `remote 'NAME' (URL…): ok` (or why it was not checked); a failed check raises RemoteUnavailable."""
    _, label, verdict = remote.check(args.name)
    print(f"{label}: {verdict}")
    return 0
