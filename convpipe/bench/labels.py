"""The label check against known errors: 5% of the digits' train labels flipped (seeded) through data.relabel."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

from convpipe.bench.workspace import copy_project, set_params, stage_costs, timed

FLIPPED_SHARE = 0.05
SEED = 0  # which images are flipped, and to what
TARGETS = {"recall_top_2k": 0.8, "precision_top_k": 0.8}
# Up to evaluate: test accuracy is what the exclusion is judged by; export adds nothing here.
UNTIL = "evaluate"


def flips(train_manifest: Path, raw: Path, share: float, seed: int) -> dict[str, str]:
    """{raw-relative path: another class} for `share` of the train images, drawn with `seed`."""
    with open(train_manifest, newline="", encoding="utf-8") as handle:
        rows = [(Path(r["path"]).relative_to(raw).as_posix(), r["label"]) for r in csv.DictReader(handle)]
    classes = sorted({label for _, label in rows})
    rng = random.Random(seed)
    chosen = rng.sample(rows, round(share * len(rows)))
    return {path: rng.choice([c for c in classes if c != label]) for path, label in sorted(chosen)}


def scores(found: list[str], flipped: set[str]) -> dict[str, float]:
    """Recall of the flipped images in the top 2k suspects and precision of the top k (k: flipped count)."""
    k = len(flipped)
    return {
        "recall_top_2k": round(len(set(found[: 2 * k]) & flipped) / k, 4),
        "precision_top_k": round(len(set(found[:k]) & flipped) / k, 4),
    }


def _test_accuracy(repo: Path) -> float:
    with open(repo / "reports" / "metrics.json", encoding="utf-8") as handle:
        return round(json.load(handle)["test"]["accuracy"], 4)


def _suspects(repo: Path) -> list[str]:
    with open(repo / "reports" / "label_issues.csv", newline="", encoding="utf-8") as handle:
        return [row["path"] for row in csv.DictReader(handle)]


def labels(root: Path, work: Path) -> dict:
    """Clean run, then flipped labels (relabel), then flipped with every suspect excluded: figures of each."""
    repo = copy_project(root, work / "labels")
    timed("dvc", "repro", UNTIL, cwd=repo)
    clean_accuracy, clean_found = _test_accuracy(repo), len(_suspects(repo))
    flipped = flips(repo / "data" / "split" / "train.csv", Path("data/raw"), FLIPPED_SHARE, SEED)
    review = repo / "data" / "review"
    with open(review / "flipped.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("path", "label"), *flipped.items()])
    set_params(repo, data={"relabel": "data/review/flipped.csv"})
    timed("dvc", "repro", UNTIL, cwd=repo)
    found = _suspects(repo)
    cost = stage_costs(repo).get("label_check", {})
    flipped_accuracy = _test_accuracy(repo)
    shutil.copy(repo / "reports" / "label_issues.csv", review / "suspects.csv")
    set_params(repo, data={"exclude": "data/review/suspects.csv"})
    timed("dvc", "repro", UNTIL, cwd=repo)
    return {
        "train_images_flipped": len(flipped),
        "suspects_found": len(found),
        "suspects_found_clean": clean_found,
        **scores(found, set(flipped)),
        "target": ", ".join(f"{k} ≥ {v}" for k, v in TARGETS.items()),
        "test_accuracy_clean": clean_accuracy,
        "test_accuracy_flipped": flipped_accuracy,
        "test_accuracy_flipped_suspects_excluded": _test_accuracy(repo),
        "label_check_wall_s": cost.get("stage_wall_s"),
        "label_check_cpu_s": cost.get("cpu_s"),
    }
