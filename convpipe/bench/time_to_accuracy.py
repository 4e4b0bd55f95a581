"""Time to accuracy: wall time of train (then finetune, if train fell short) until val accuracy first reaches a
fixed target, float32 and auto precision side by side in one run, in throw-away copies of the project.

Times count from the launch of each stage's process (start-up, building, the feature cache included) to the
arrival of the epoch line (model.training.epoch_line) that reached the target.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from convpipe.bench.photos import PHOTO_DATA
from convpipe.bench.workspace import copy_project, set_params, timed

POLICIES = ("float32", "auto")
EPOCH_LINE = re.compile(r"^(train|finetune): epoch (\d+)/\d+ .*\bval_accuracy ([0-9.]+)")


def streamed(args: list[str], cwd: Path) -> tuple[float, list[tuple[float, str]]]:
    """Run a command; its wall time and its stdout lines, each with the seconds since launch it arrived at."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    start, lines = time.perf_counter(), []
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            lines.append((time.perf_counter() - start, line.rstrip("\n")))
        stderr = proc.stderr.read()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed in {cwd}:\n{stderr[-2000:]}")
    return time.perf_counter() - start, lines


def epoch_points(lines: list[tuple[float, str]]) -> list[tuple[float, float]]:
    """(seconds since launch, val_accuracy) of each epoch line."""
    return [(t, float(m.group(3))) for t, line in lines if (m := EPOCH_LINE.match(line))]


def time_to(phases: list[tuple[float, list[tuple[float, float]]]], target: float) -> float | None:
    """Seconds until val accuracy first reaches `target` over phases of (wall seconds, epoch points), run one
    after the other; None when it never does."""
    offset = 0.0
    for wall, points in phases:
        for t, accuracy in points:
            if accuracy >= target:
                return offset + t
        offset += wall
    return None


def race(repo: Path, target: float, policy: str) -> dict:
    """Train (and finetune unless train reached `target`) in `repo` under `policy`; the figures of the race."""
    from convpipe.core.paths import load_paths

    paths = load_paths(repo / "dvc.yaml")
    set_params(repo, train={"precision": policy}, finetune={"precision": policy})
    for leftover in (paths.train, paths.finetune, Path(".convpipe/backup")):
        shutil.rmtree(repo / leftover, ignore_errors=True)
    phases, row = [], {"precision": policy}
    for stage in ("train", "finetune"):
        wall, lines = streamed([sys.executable, "-m", f"stages.{stage}"], repo)
        points = epoch_points(lines)
        phases.append((wall, points))
        row[f"{stage}_s"] = round(wall, 1)
        row[f"{stage}_epochs"] = len(points)
        row[f"{stage}_best_val_accuracy"] = max((a for _, a in points), default=0.0)
        if stage == "train":
            resolved = json.loads((repo / paths.train / "resolved.json").read_text(encoding="utf-8"))
            row["resolved"] = resolved["resolved.train.precision"]
            row["feature_cache"] = resolved["resolved.train.feature_cache"]
        if time_to(phases, target) is not None:
            break
    reached = time_to(phases, target)
    row["seconds_to_target"] = round(reached, 1) if reached is not None else "not reached"
    return row


def infer_arch(weights: Path) -> str:
    """The pretrained arch a weights file is for, from its name (xception_weights_….h5 → xception)."""
    from convpipe.model.architectures import PRETRAINED

    name = weights.name.lower().replace("_", "")
    for arch in sorted(PRETRAINED, key=len, reverse=True):
        if arch.replace("_", "") in name:
            return arch
    raise ValueError(f"--weights {weights}: cannot tell the arch from its name (one of {', '.join(PRETRAINED)})")


def cases(photos: Path | None, weights: Path | None, targets: dict[str, float]) -> dict[str, tuple[float, dict]]:
    """name → (target, params sections) of each race to run."""
    chosen = {"digits": (targets["digits"], {})}
    if photos:
        folder = {"data": {"source": f"dir:{photos}", **PHOTO_DATA}}
        chosen["photos, from scratch"] = (targets["photos"], folder)
        if weights:
            model = {"arch": infer_arch(weights), "weights": str(weights)}
            chosen["photos, pretrained base"] = (targets["photos"], {**folder, "model": model})
    return chosen


def time_to_accuracy(root: Path, work: Path, photos: Path | None, weights: Path | None, targets: dict) -> dict:
    """Per case, a row per precision (float32, auto) with seconds to the target and each stage's wall time."""
    figures = {}
    for number, (name, (target, sections)) in enumerate(cases(photos, weights, targets).items()):
        repo = copy_project(root, work / f"tta-{number}", **sections)
        timed("dvc", "repro", "preprocess", cwd=repo)
        figures[name] = [{"target": target, **race(repo, target, policy)} for policy in POLICIES]
    return figures
