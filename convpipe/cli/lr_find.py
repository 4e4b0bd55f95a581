"""convpipe lr-find: suggest train.learning_rate from a short run at exponentially growing learning rates.

fastai's lr_find on the prepared train split with the configured model: the loss per rate, smoothed, until it
diverges; the suggestion is the steepest descent of that curve (or the minimum-loss rate ÷ 10). Run
`dvc repro preprocess` first. Logs the suggestion and the plot to MLflow as an `lr-find` run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convpipe.core.params import PARAMS_FILE, load_params
from convpipe.core.paths import load_paths


def add_parser(subparsers) -> None:
    """Register `lr-find` and its options."""
    sub = subparsers.add_parser(
        "lr-find",
        help="suggest train.learning_rate with a learning-rate range test",
        description=__doc__.split(": ", 1)[1].split("\n")[0],
    )
    sub.add_argument("--params", default=str(PARAMS_FILE), help="params file (default: params.yaml)")
    sub.add_argument("--out", type=Path, help="where to save the loss-vs-rate plot (default: reports/lr_find.png)")
    sub.add_argument("--steps", type=int, default=100, help="batches in the run (default: 100)")
    sub.add_argument("--start", type=float, default=1e-6, help="first learning rate (default: 1e-6)")
    sub.add_argument("--end", type=float, default=1.0, help="last learning rate (default: 1)")


def run(args: argparse.Namespace) -> int:
    """Run the range test, print the suggestion, save the plot; 0 on success."""
    if not (0 < args.start < args.end) or args.steps < 2:
        raise ValueError("lr-find: needs 0 < --start < --end and --steps of at least 2")
    params, paths = load_params(args.params), load_paths()
    out = args.out or paths.reports / "lr_find.png"

    from convpipe.core.tracking import stage_run
    from convpipe.data import shards
    from convpipe.evaluate import plots
    from convpipe.model import auto, lr_find
    from convpipe.model.builders import build_model
    from convpipe.model.seeding import seed_everything
    from convpipe.model.training import compile_model, one_hot_labels

    meta = shards.read_meta(paths.prepared)
    seed_everything(params.seed)
    batch_size = auto.batch_size(params.train.batch_size, meta["counts"]["train"]["total"])
    with stage_run("lr-find", params) as tracked:
        model = build_model(params.model, (*meta["image_size"], meta["channels"]), len(meta["class_names"]))
        compile_model(model, args.start, params.train.label_smoothing)
        batches = shards.training_epochs(paths.prepared, batch_size, params.seed, None).epoch(0)
        curve = lr_find.find_rate(model, one_hot_labels(model, batches), args.steps, args.start, args.end)
        plots.learning_rate_curve(curve.rates, curve.losses, curve.smoothed, curve.suggestion, curve.method, out)
        tracked.log_metrics({"suggested_learning_rate": curve.suggestion, "steps_run": len(curve.rates)})
        tracked.set_tags({"convpipe.lr_find.method": curve.method})
        tracked.log_artifact(out)
    print(
        f"lr-find: suggested train.learning_rate {curve.suggestion:.2g} ({curve.method}; {len(curve.rates)} steps "
        f"from {curve.rates[0]:.0e} to {curve.rates[-1]:.2g}, batch size {batch_size}); plot in {out}"
    )
    return 0
