"""preprocess: decode, validate and resize every split into TFRecord shards.

Reads params: data (color_mode, image_size, max_pixels, shard_size), model (arch, weights: a pretrained base
sets the "auto" size), tracking. Writes: paths.prepared
(shards, meta.json with the image size and colour mode used, resolved from the images when "auto") and
paths.reports/data.json (class counts per split, every skipped file with its reason, files stored under another
name, the split stage's near-duplicate groups, what data.exclude and data.relabel changed, and the values
resolved from "auto"). Fails when a class has no
decodable training image.
"""

import json
import os
import sys
from dataclasses import asdict

from convpipe.core.atomic import atomic_dir, atomic_file
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import auto, shards, split
from convpipe.data.images import CHANNELS
from convpipe.model import auto as model_auto


def require_train_images(train_counts: dict[str, int], report) -> None:
    """Stop before training when a class has no decodable training image (its files were all rejected)."""
    empty = sorted(label for label, count in train_counts.items() if count == 0)
    if empty:
        raise ValueError(
            f"class(es) {', '.join(map(repr, empty))} have no decodable image in the train split (every file was "
            f"skipped; the reasons are in {report}); fix or remove the class folder"
        )


def main() -> None:
    params, paths = load_params(), load_paths()
    data = params.data
    # out_dir is a temporary sibling of paths.prepared, renamed into place when the stage succeeds.
    with stage_run("preprocess", params) as run, atomic_dir(paths.prepared) as out_dir:
        manifests = {name: split.read_manifest(paths.split / f"{name}.csv") for name in split.SPLITS}
        class_names = sorted({r.label for members in manifests.values() for r in members})
        surveyed = auto.sample([r.path for members in manifests.values() for r in members])
        sides = auto.image_sides(surveyed, data.max_pixels)
        image_size = auto.image_size(data.image_size, sides, model_auto.has_pretrained_base(params.model))
        color_mode = auto.color_mode(data.color_mode, surveyed, data.max_pixels)
        summaries = {
            name: shards.write_split(
                members,
                class_names,
                out_dir,
                name,
                data.shard_size,
                color_mode,
                data.max_pixels,
                tuple(image_size),
                os.cpu_count() or 1,
            )
            for name, members in manifests.items()
        }
        counts = {name: {**s.counts, "total": sum(s.counts.values())} for name, s in summaries.items()}
        meta = {
            "class_names": class_names,
            "image_size": image_size,
            "channels": CHANNELS[color_mode],
            "color_mode": color_mode,
            "counts": counts,
            "train_pixels": summaries["train"].stats(),
        }
        with open(out_dir / shards.META_FILE, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2)
        with open(paths.split / "summary.json", encoding="utf-8") as handle:
            split_summary = json.load(handle)
        resolved = {"data.image_size": image_size, "data.color_mode": color_mode}
        report = {
            "class_counts": counts,
            "skipped": split_summary["skipped"] + [asdict(s) for s in sum((s.skipped for s in summaries.values()), [])],
            "notes": [asdict(n) for n in sum((s.notes for s in summaries.values()), [])],
            "near_duplicates": split_summary.get("near_duplicates"),
            "renamed": split_summary.get("renamed", []),
            # What each "auto" param became (explicit values appear as given), for the report and reruns.
            "resolved": {**split_summary.get("resolved", {}), **resolved},
            "review": split_summary.get("review"),  # data.exclude / data.relabel, applied at split
        }
        with atomic_file(paths.reports / "data.json") as handle:
            json.dump(report, handle, indent=2)
        require_train_images(summaries["train"].counts, paths.reports / "data.json")
        run.log_metrics(
            {**{f"{name}_images": c["total"] for name, c in counts.items()}, "skipped_files": len(report["skipped"])}
        )
        run.log_params({f"resolved.{key}": value for key, value in resolved.items()})
        run.log_artifact(paths.reports / "data.json")
        run.log_artifact(out_dir / shards.META_FILE)
        sizes = ", ".join(f"{name} {c['total']}" for name, c in counts.items())
        print(
            f"preprocess: {image_size[0]}×{image_size[1]} {color_mode}; {sizes}; skipped {len(report['skipped'])} "
            f"file(s) (see {paths.reports / 'data.json'})"
        )


if __name__ == "__main__":
    sys.exit(run_main(main, "preprocess"))
