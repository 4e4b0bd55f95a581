"""convpipe similar: the k most similar training images for each image, from the index stage's embedding index."""

from __future__ import annotations

import argparse
from pathlib import Path

from convpipe.cli.predict import add_decode_options, check_options, image_files
from convpipe.core.text import quote_path


def add_parser(subparsers) -> None:
    """Register `similar` and its options."""
    sub = subparsers.add_parser(
        "similar", help="find the most similar training images (embedding index)", description=__doc__.split(": ", 1)[1]
    )
    sub.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE_OR_FOLDER", help="image files, or folders searched for images"
    )
    sub.add_argument("-k", type=int, default=5, help="training images to show per image (default: 5)")
    sub.add_argument(
        "--index",
        type=Path,
        default=Path("models/index"),
        help="folder written by the index stage (default: models/index)",
    )
    sub.add_argument("--json", action="store_true", help="print one JSON list instead of text lines")
    add_decode_options(sub)


def text(match) -> str:
    """A file's line and one indented line per neighbour."""
    return "\n".join(
        [f"{quote_path(match.path)}:"]
        + [
            f"  {rank}. {quote_path(path)}  label {quote_path(label)}  similarity {similarity:.4f}"
            for rank, (path, label, similarity) in enumerate(match.neighbours, 1)
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Print matches, per-file errors to stderr; 0 when every file was answered, 1 otherwise."""
    # FAISS loads for this subcommand only, not for every `convpipe` call
    from convpipe.evaluate import retrieval
    from convpipe.serve import output, similar

    limits = check_options(args)
    retrieval.require(args.index)  # a missing index is named before the inputs are looked at
    files = image_files(args)
    failed = output.emit(
        similar.find(files, args.index, args.k, limits),
        args.json,
        lambda m: {
            "path": m.path,
            "similar": [{"path": p, "label": label, "similarity": s} for p, label, s in m.neighbours],
        },
        text,
    )
    return 1 if failed else 0
