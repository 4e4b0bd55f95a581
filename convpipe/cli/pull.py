"""convpipe pull: check the DVC remote, then `dvc pull`; a failure names the remote."""
from __future__ import annotations

import argparse

from convpipe import remote


def add_parser(subparsers) -> None:
    """Register `pull` and its options."""
    sub = subparsers.add_parser("pull", help="dvc pull, after checking the remote answers",
                                description=__doc__.split(": ", 1)[1])
    sub.add_argument("targets", nargs="*", help="what to pull (default: everything dvc.lock and *.dvc track)")
    sub.add_argument("-r", "--remote", help="DVC remote name (default: the project's default remote)")
    sub.add_argument("-j", "--jobs", type=int, help="parallel downloads (default: DVC's)")


def run(args: argparse.Namespace) -> int:
    """0 when the pull completed; a failed check or pull raises RemoteUnavailable."""
    remote.transfer("pull", args.remote, [*remote.jobs(args.jobs), *args.targets])
    return 0
