"""convpipe bench: measure the pipeline (input, start-up, inference, scale) and the hardware's limit in one run.

Runs the real pipeline in throw-away copies of this project, prints a table per section and writes
the figures as JSON. Figures depend on the machine: compare runs made on the same one.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SECTIONS = (
    "overhead",
    "input",
    "inference",
    "photos",
    "scale",
    "index",
    "hardware",
    "time_to_accuracy",
    "labels",
)


def add_parser(subparsers) -> None:
    """Register `bench` and its options."""
    sub = subparsers.add_parser(
        "bench",
        help="benchmark the pipeline and write reports/bench.json",
        description=__doc__.split(": ", 1)[1].split("\n")[0],
    )
    sub.add_argument(
        "--photos",
        type=Path,
        help="a folder of photos in class folders (or train/ and val/ above them) for the "
        "photo-folder figures, resized to 160×160 RGB; skipped when not given",
    )
    sub.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        metavar="SECTION",
        help=f"sections to run (default: all of {', '.join(SECTIONS)})",
    )
    sub.add_argument(
        "--scale-sizes",
        nargs="+",
        type=int,
        default=[5000, 20000],
        metavar="N",
        help="generated folder sizes for the scale section (default: 5000 20000)",
    )
    sub.add_argument(
        "--index-sizes",
        nargs="+",
        type=int,
        default=[20000, 100000],
        metavar="N",
        help="vector counts for the embedding-index section (default: 20000 100000)",
    )
    sub.add_argument(
        "--weights",
        type=Path,
        help="a pretrained base's weights file (e.g. xception_weights_tf_dim_ordering_tf_kernels_notop.h5; the arch "
        "is read from its name): time_to_accuracy also races that base on --photos",
    )
    sub.add_argument(
        "--digits-target", type=float, default=0.97, help="time_to_accuracy: val accuracy to reach on the digits"
    )
    sub.add_argument(
        "--photos-target", type=float, default=0.85, help="time_to_accuracy: val accuracy to reach on --photos"
    )
    sub.add_argument("--out", type=Path, default=Path("reports/bench.json"), help="where to write the figures")
    sub.add_argument("--work", type=Path, help="folder for the project copies (default: a temporary one)")


def run(args: argparse.Namespace) -> int:
    """Run the chosen sections, print each as it finishes, write them all to --out."""
    root = Path.cwd()
    if not (root / "dvc.yaml").exists():
        raise FileNotFoundError(f"{root}: no dvc.yaml here (run `convpipe bench` at the project root)")
    if args.photos and not args.photos.is_dir():
        raise FileNotFoundError(f"--photos {args.photos}: no such folder")
    if args.weights and not args.weights.is_file():
        raise FileNotFoundError(f"--weights {args.weights}: no such file")
    with tempfile.TemporaryDirectory(prefix="convpipe-bench-", dir=args.work) as work:
        results = measure(root, Path(work), args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


def measure(root: Path, work: Path, args: argparse.Namespace) -> dict:
    """Each section's figures, printed as they come; later sections reuse the cold run's copy."""
    from convpipe.bench import tables

    results, default_repo, started = {}, None, time.perf_counter()

    def done(name: str, figures) -> None:
        results[name] = figures
        print(tables.section(name, figures), flush=True)

    if {"overhead", "input", "inference"} & set(args.only):
        from convpipe.bench.overhead import overhead

        figures, default_repo = overhead(root, work)
        if "overhead" in args.only:
            done("overhead", figures)
    if "input" in args.only:
        from convpipe.bench.input_pipeline import efficiency

        done("input", efficiency(default_repo))
    if "inference" in args.only:
        from convpipe.bench.inference import inference

        done("inference", inference(default_repo))
    if "photos" in args.only and args.photos:
        from convpipe.bench.photos import photos

        done("photos", photos(root, work, args.photos.resolve()))
    if "scale" in args.only:
        from convpipe.bench.scale import scale

        done("scale", scale(root, work, sorted(args.scale_sizes)))
    if "index" in args.only:
        from convpipe.bench.retrieval import benchmark

        figures = benchmark(sizes=tuple(args.index_sizes))
        rows = [
            {"vectors": size, "index": kind, **{k: round(v, 4) for k, v in measured.items()}}
            for size, by_kind in figures.pop("sizes").items()
            for kind, measured in by_kind.items()
        ]
        done("index", {**figures, "sizes": rows})
    if "hardware" in args.only:
        from convpipe.bench.hardware import hardware

        done("hardware", hardware(root))
    if "time_to_accuracy" in args.only:
        from convpipe.bench.time_to_accuracy import time_to_accuracy

        photos, weights = (p.resolve() if p else None for p in (args.photos, args.weights))
        targets = {"digits": args.digits_target, "photos": args.photos_target}
        done("time_to_accuracy", time_to_accuracy(root, work, photos, weights, targets))
    if "labels" in args.only:
        from convpipe.bench.labels import labels

        done("labels", labels(root, work))
    results["total_s"] = round(time.perf_counter() - started, 1)
    return results
