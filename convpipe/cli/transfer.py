"""What `convpipe push` and `convpipe pull` share: their arguments, and the check before DVC runs."""

from __future__ import annotations

import argparse

from convpipe.ops import remote


def add_transfer_parser(subparsers, command: str, summary: str, description: str, what: str) -> None:
    """Register `push` or `pull`: targets, -r and -j, as `dvc COMMAND` takes them."""
    sub = subparsers.add_parser(command, help=summary, description=description)
    sub.add_argument("targets", nargs="*", help=f"what to {command} (default: everything dvc.lock and *.dvc track)")
    sub.add_argument("-r", "--remote", help="DVC remote name (default: the project's default remote)")
    sub.add_argument("-j", "--jobs", type=int, help=f"parallel {what} (default: DVC's)")


def transfer(command: str, args: argparse.Namespace, *extra: str) -> int:
    """0 when `dvc COMMAND` completed; a failed check or transfer raises RemoteUnavailable."""
    remote.transfer(command, args.remote, [*extra, *remote.jobs(args.jobs), *args.targets])
    return 0
