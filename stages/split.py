"""split: hash, deduplicate, group near-duplicates and assign every image to train/val/test by content.

Reads params: seed, data (fractions, max_per_class, keep_source_splits, max_pixels, near_duplicate_*, exclude,
relabel), tracking; the review files data.exclude and data.relabel name (in data/review/).
Writes: paths.split/{train,val,test}.csv and summary.json (near-duplicate groups, the resolved
near_duplicate_distance, what the review changed), and paths.reports/near_duplicates.png (a few groups, drawn).
"""

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from convpipe.core.atomic import atomic_dir
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import auto, layout, near_duplicates, review, split
from convpipe.data.images import load_image
from convpipe.evaluate import plots

GROUPS_LISTED = 200  # groups listed by path in summary.json (largest first); all are counted
GROUPS_DRAWN = 6  # groups drawn, largest first
IMAGES_DRAWN = 6  # members drawn per group
THUMBNAIL_SIDE = 160  # pixels, the longer side of each image drawn (a 9000² GIF is decoded, then shrunk at once)


def find_groups(unique: list[split.Record], kind: str, distance: int, max_pixels: int) -> list[near_duplicates.Group]:
    """Near-duplicate groups of `unique` (indices into it); none when distance is 0."""
    if distance == 0:
        return []
    hashes = near_duplicates.hash_all([r.path for r in unique], kind, max_pixels, os.cpu_count() or 1)
    return near_duplicates.group(hashes, distance)


def split_of(splits: dict[str, list[split.Record]]) -> dict[str, str]:
    """{path: split name}."""
    return {r.path: name for name, members in splits.items() for r in members}


def draw(listed: list[dict], max_pixels: int, path: Path) -> None:
    """The first groups, one row each, every image captioned with its label, split and file name."""
    rows, captions = [], []
    for entry in listed[:GROUPS_DRAWN]:
        rows.append(
            [
                np.asarray(load_image(Path(p), "rgb", max_pixels, THUMBNAIL_SIDE)[0])
                for p in entry["paths"][:IMAGES_DRAWN]
            ]
        )
        captions.append(
            [
                f"{label} · {'/'.join(entry['split'])}\n{Path(p).name}"
                for p, label in zip(entry["paths"][:IMAGES_DRAWN], entry["labels"])
            ]
        )
    plots.image_rows(rows, captions, f"Near-duplicate groups (each kept in one split): {len(listed)} listed", path)


def reviewed(
    records: list[split.Record], raw_dir: Path, exclude_file: str | None, relabel_file: str | None
) -> tuple[list[split.Record], dict]:
    """The records after data.exclude and data.relabel (files in data/review/), and what they changed."""
    exclude = review.read_exclude(Path(exclude_file)) if exclude_file else []
    relabel = review.read_relabel(Path(relabel_file)) if relabel_file else {}
    sources = (f"data.exclude {exclude_file}", f"data.relabel {relabel_file}")
    return review.apply(records, raw_dir, exclude, relabel, sources)


def main() -> None:
    params, paths = load_params(), load_paths()
    data = params.data
    raw_dir, out_dir, reports = paths.raw, paths.split, paths.reports
    with stage_run("split", params) as run:
        found, skipped = split.scan(raw_dir, ignore=layout.METADATA_FILES)
        found, reviewed_changes = reviewed(found, raw_dir, data.exclude, data.relabel)
        download = layout.read_download_report(raw_dir)
        unique, dropped = split.deduplicate(found)
        fixed = layout.read_source_splits(raw_dir) if data.keep_source_splits else {}
        sides = auto.image_sides(auto.sample([r.path for r in unique]), data.max_pixels)
        distance = auto.near_duplicate_distance(data.near_duplicate_distance, sides)
        groups = find_groups(unique, data.near_duplicate_hash, distance, data.max_pixels)
        grouped = [[unique[i] for i in g.members] for g in groups]
        ungrouped = split.assign(unique, data.val_fraction, data.test_fraction, params.seed, data.max_per_class, fixed)
        splits = split.assign(
            unique, data.val_fraction, data.test_fraction, params.seed, data.max_per_class, fixed, grouped
        )
        paths = [[r.path for r in members] for members in grouped]
        near = near_duplicates.summary(
            groups,
            [r.path for r in unique],
            [r.label for r in unique],
            split_of(splits),
            data.near_duplicate_hash,
            distance,
            near_duplicates.crossed(paths, split_of(ungrouped)),
            GROUPS_LISTED,
        )
        # Non-zero only when a tiny class had to lend a grouped image to fill an empty split.
        near["crossed_splits_after_grouping"] = near_duplicates.crossed(paths, split_of(splits))
        summary = {
            "images_found": len(found),
            "source_splits": sorted(set(fixed.values())),
            "counts": {name: len(members) for name, members in splits.items()},
            "skipped": download["skipped"] + [asdict(s) for s in skipped + dropped],
            "renamed": download.get("renamed", []),
            "near_duplicates": near,
            "resolved": {"data.near_duplicate_distance": distance},
            "review": reviewed_changes,
        }
        with atomic_dir(out_dir) as part:
            for name, members in splits.items():
                split.write_manifest(members, part / f"{name}.csv")
            with open(part / "summary.json", "w", encoding="utf-8") as handle:
                json.dump(summary, handle, indent=2, ensure_ascii=False)
        draw(near["listed"], data.max_pixels, reports / "near_duplicates.png")
        run.log_metrics(
            {
                **{f"{name}_images": count for name, count in summary["counts"].items()},
                "skipped_files": len(summary["skipped"]),
                "near_duplicate_groups": near["groups"],
                "near_duplicate_groups_crossing_before": near["crossed_splits_before_grouping"],
                "review_excluded": reviewed_changes["excluded"],
                "review_relabelled": reviewed_changes["relabelled"],
            }
        )
        run.log_params({f"resolved.{key}": value for key, value in summary["resolved"].items()})
        run.log_artifacts(out_dir, "split")
        run.log_artifact(reports / "near_duplicates.png")
        print(
            f"split: {summary['counts']}, skipped {len(summary['skipped'])} file(s); {near['groups']} "
            f"near-duplicate group(s), {near['crossed_splits_before_grouping']} of them crossed splits before "
            f"grouping (near_duplicate_distance {distance})"
        )


if __name__ == "__main__":
    sys.exit(run_main(main, "split"))
