"""convpipe pull: check the DVC remote, then `dvc pull`; a failure names the remote."""

from __future__ import annotations

import argparse

from convpipe.cli.transfer import add_transfer_parser, transfer


def add_parser(subparsers) -> None:
    """Register `pull` and its options."""
    add_transfer_parser(
        subparsers, "pull", "dvc pull, after checking the remote answers", __doc__.split(": ", 1)[1], "downloads"
    )


def run(args: argparse.Namespace) -> int:
    """0 when the pull completed; a failed check or pull raises RemoteUnavailable."""
    return transfer("pull", args)
