"""The `convpipe` command: one small module per subcommand, each with add_parser() and run()."""

from __future__ import annotations

import argparse
import sys

from convpipe.cli import bench, gate, label_issues, lr_find, predict, pull, push, remote, similar, tune
from convpipe.core.errors import USER_ERRORS

COMMANDS = {
    "bench": bench,
    "gate": gate,
    "lr-find": lr_find,
    "label-issues": label_issues,
    "predict": predict,
    "pull": pull,
    "push": push,
    "remote": remote,
    "similar": similar,
    "tune": tune,
}


def parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    top = argparse.ArgumentParser(
        prog="convpipe",
        description="Reproducible image classification: tools "
        "around the DVC pipeline (run the pipeline itself with `dvc repro`).",
    )
    subparsers = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(subparsers)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run the subcommand, turn user errors into one line and exit code 2."""
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except USER_ERRORS as err:
        print(f"convpipe {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
