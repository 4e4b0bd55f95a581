"""convpipe predict: top-k labels with probabilities for images, from any exported model artifact."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from convpipe.core.text import quote_path
from convpipe.data.decoder import Limits


def add_parser(subparsers) -> None:
    """Register `predict` and its options."""
    sub = subparsers.add_parser(
        "predict",
        help="classify images with a .keras, SavedModel, .tflite or .onnx model",
        description=__doc__.split(": ", 1)[1],
    )
    sub.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE_OR_FOLDER", help="image files, or folders searched for images"
    )
    sub.add_argument(
        "--model",
        required=True,
        type=Path,
        help="artifact, e.g. models/export/model_int8.tflite (preprocessing.json beside it is used)",
    )
    sub.add_argument("-k", type=int, default=3, help="labels to show per image (default: 3)")
    sub.add_argument("--json", action="store_true", help="print one JSON list instead of text lines")
    add_decode_options(sub)


def add_decode_options(sub: argparse.ArgumentParser) -> None:
    """The bounds on decoding one untrusted file, shared with `similar`."""
    sub.add_argument(
        "--decode-timeout",
        type=float,
        default=Limits.timeout_s,
        metavar="SECONDS",
        help=f"give up on a file whose decoding takes longer (default: {Limits.timeout_s:g})",
    )
    sub.add_argument(
        "--decode-memory-mb",
        type=int,
        default=Limits.memory_mb,
        metavar="MIB",
        help=f"give up on a file whose decoding needs more memory (default: {Limits.memory_mb})",
    )


def check_options(args: argparse.Namespace) -> Limits:
    """Check the options predict and similar share (-k, the decoding bounds); return the decoding bounds."""
    if args.k < 1:
        raise ValueError(f"-k must be at least 1, got {args.k}")
    if not (math.isfinite(args.decode_timeout) and args.decode_timeout > 0):
        raise ValueError(f"--decode-timeout must be a positive number of seconds, got {args.decode_timeout:g}")
    if args.decode_memory_mb < 1:
        raise ValueError(f"--decode-memory-mb must be at least 1 (MiB), got {args.decode_memory_mb}")
    return Limits(args.decode_timeout, args.decode_memory_mb)


def image_files(args: argparse.Namespace) -> list[Path]:
    """The files named on the command line and the images in the folders named; ValueError when there is none."""
    from convpipe.serve.predict import expand

    files, passed_over = expand(args.images)
    if not files:
        # An error, not an empty success: a script that pointed at the wrong folder should hear of it.
        given = ", ".join(quote_path(path) for path in args.images)
        others = f" (only {passed_over} other file(s))" if passed_over else ""
        raise ValueError(f"nothing to do: no image files in {given}{others}")
    if passed_over:
        print(f"note: passed over {passed_over} non-image file(s) in the folders given", file=sys.stderr)
    return files


def run(args: argparse.Namespace) -> int:
    """Print predictions, per-file errors to stderr; 0 when every file was classified, 1 otherwise."""
    from convpipe.export import description, runtimes
    from convpipe.serve import output, predict

    limits = check_options(args)
    runtimes.runtime_of(args.model)  # a missing or unknown model is named before the inputs are looked at
    files = image_files(args)
    artifact = runtimes.load(args.model)
    prep = description.preprocessing_for(args.model, artifact.input_shape)
    failed = output.emit(
        predict.predict(files, artifact, prep, args.k, limits),
        args.json,
        lambda r: {"path": r.path, "top_k": [{"label": label, "probability": p} for label, p in r.top]},
        lambda r: f"{quote_path(r.path)}: " + "  ".join(f"{quote_path(label)} {p:.4f}" for label, p in r.top),
    )
    return 1 if failed else 0
