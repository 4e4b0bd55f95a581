"""convpipe push: check the DVC remote, then `dvc push --run-cache`; a failure names the remote."""

from __future__ import annotations

import argparse

from convpipe.cli.transfer import add_transfer_parser, transfer


def add_parser(subparsers) -> None:
    """Register `push` and its options."""
    add_transfer_parser(
        subparsers,
        "push",
        "dvc push --run-cache, after checking the remote answers",
        __doc__.split(": ", 1)[1],
        "uploads",
    )


def run(args: argparse.Namespace) -> int:
    """0 when the push completed; a failed check or push raises RemoteUnavailable."""
    return transfer("push", args, "--run-cache")
