"""convpipe similar: the k most similar training images for each image, from the index stage's embedding index."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convpipe import predict
from convpipe.cli.predict import JsonList, add_decode_options, decode_limits


def add_parser(subparsers) -> None:
    """Register `similar` and its options."""
    sub = subparsers.add_parser("similar", help="find the most similar training images (embedding index)",
                                description=__doc__.split(": ", 1)[1])
    sub.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_FOLDER",
                     help="image files, or folders searched for images")
    sub.add_argument("-k", type=int, default=5, help="training images to show per image (default: 5)")
    sub.add_argument("--index", type=Path, default=Path("models/index"),
                     help="folder written by the index stage (default: models/index)")
    sub.add_argument("--json", action="store_true", help="print one JSON list instead of text lines")
    add_decode_options(sub)


def run(args: argparse.Namespace) -> int:
    """Print matches, per-file errors to stderr; 0 when every file was answered, 1 otherwise."""
    from convpipe import similar  # FAISS loads for this subcommand only, not for every `convpipe` call

    if args.k < 1:
        raise ValueError(f"-k must be at least 1, got {args.k}")
    limits = decode_limits(args)
    files, passed_over = predict.expand(args.images)
    if passed_over:
        print(f"note: passed over {passed_over} non-image file(s) in the folders given", file=sys.stderr)
    listing, failed = JsonList(), 0
    for result in similar.find(files, args.index, args.k, limits):
        if result.error:
            print(f"{result.path}: error: {result.error}", file=sys.stderr)
            failed += 1
        if args.json:
            listing.add({"path": result.path, "error": result.error} if result.error else
                        {"path": result.path, "similar": [{"path": p, "label": label, "similarity": s}
                                                          for p, label, s in result.neighbours]})
        elif not result.error:
            print(f"{result.path}:")
            for rank, (path, label, similarity) in enumerate(result.neighbours, 1):
                print(f"  {rank}. {path}  label {label}  similarity {similarity:.4f}")
    if args.json:
        listing.close()
    return 1 if failed else 0
