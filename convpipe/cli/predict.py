"""convpipe predict: top-k labels with probabilities for images, from any exported model artifact."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from convpipe import predict, runners


def add_parser(subparsers) -> None:
    """Register `predict` and its options."""
    sub = subparsers.add_parser("predict", help="classify images with a .keras, SavedModel, .tflite or .onnx model",
                                description=__doc__.split(": ", 1)[1])
    sub.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_FOLDER",
                     help="image files, or folders searched for images")
    sub.add_argument("--model", required=True, type=Path,
                     help="artifact, e.g. models/export/model_int8.tflite (preprocessing.json beside it is used)")
    sub.add_argument("-k", type=int, default=3, help="labels to show per image (default: 3)")
    sub.add_argument("--json", action="store_true", help="print one JSON list instead of text lines")


def run(args: argparse.Namespace) -> int:
    """Print predictions, per-file errors to stderr; 0 when every file was classified, 1 otherwise."""
    if args.k < 1:
        raise ValueError(f"-k must be at least 1, got {args.k}")
    loaded = runners.load(args.model)
    prep = predict.preprocessing_for(args.model, loaded.input_shape)
    files, passed_over = predict.expand(args.images)
    if passed_over:
        print(f"note: passed over {passed_over} non-image file(s) in the folders given", file=sys.stderr)
    results = predict.predict(files, loaded, prep, args.k)
    if args.json:
        print(json.dumps([{"path": r.path, "error": r.error} if r.error else
                          {"path": r.path, "top_k": [{"label": label, "probability": p} for label, p in r.top]}
                          for r in results], indent=2))
    for result in results:
        if result.error:
            print(f"{result.path}: error: {result.error}", file=sys.stderr)
        elif not args.json:
            print(f"{result.path}: " + "  ".join(f"{label} {p:.4f}" for label, p in result.top))
    return 1 if any(r.error for r in results) else 0
