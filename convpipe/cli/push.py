"""convpipe push: check the DVC remote, then `dvc push --run-cache`; a failure names the remote."""
from __future__ import annotations

import argparse

from convpipe import remote


def add_parser(subparsers) -> None:
    """Register `push` and its options."""
    sub = subparsers.add_parser("push", help="dvc push --run-cache, after checking the remote answers",
                                description=__doc__.split(": ", 1)[1])
    sub.add_argument("targets", nargs="*", help="what to push (default: everything dvc.lock and *.dvc track)")
    sub.add_argument("-r", "--remote", help="DVC remote name (default: the project's default remote)")
    sub.add_argument("-j", "--jobs", type=int, help="parallel uploads (default: DVC's)")


def run(args: argparse.Namespace) -> int:
    """0 when the push completed; a failed check or push raises RemoteUnavailable."""
    remote.transfer("push", args.remote, ["--run-cache", *remote.jobs(args.jobs), *args.targets])
    return 0
