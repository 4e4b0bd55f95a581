"""preprocess: decode, validate and resize every split into TFRecord shards.

Reads params: seed, paths, data, tracking. Writes: paths.prepared (shards, meta.json) and
paths.reports/data.json (class counts per split, every skipped file with its reason, and the split
stage's near-duplicate groups).
"""
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import mlflow

from convpipe import params as params_module
from convpipe.atomic import atomic_dir, atomic_file
from convpipe.data import records, split
from convpipe.errors import run_main
from convpipe.tracking import stage_run


def main() -> None:
    params = params_module.load()
    split_dir = Path(params.paths.split)
    # out_dir is a temporary sibling of paths.prepared, renamed into place when the stage succeeds.
    with stage_run("preprocess", params) as run, atomic_dir(Path(params.paths.prepared)) as out_dir:
        manifests = {name: split.read_manifest(split_dir / f"{name}.csv") for name in split.SPLITS}
        class_names = sorted({r.label for members in manifests.values() for r in members})
        summaries = {name: records.write_split(members, class_names, out_dir, name, params.data.shard_size,
                                               params.data.color_mode, params.data.max_pixels,
                                               tuple(params.data.image_size), os.cpu_count() or 1)
                     for name, members in manifests.items()}
        counts = {name: {**s.counts, "total": sum(s.counts.values())} for name, s in summaries.items()}
        meta = {"class_names": class_names, "image_size": params.data.image_size,
                "channels": 1 if params.data.color_mode == "grayscale" else 3,
                "counts": counts, "train_pixels": summaries["train"].stats()}
        with open(out_dir / records.META_FILE, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2)
        with open(split_dir / "summary.json", encoding="utf-8") as handle:
            split_summary = json.load(handle)
        report = {"class_counts": counts,
                  "skipped": split_summary["skipped"]
                  + [asdict(s) for s in sum((s.skipped for s in summaries.values()), [])],
                  "notes": [asdict(n) for n in sum((s.notes for s in summaries.values()), [])],
                  "near_duplicates": split_summary.get("near_duplicates")}
        reports_dir = Path(params.paths.reports)
        with atomic_file(reports_dir / "data.json") as handle:
            json.dump(report, handle, indent=2)
        if run:
            mlflow.log_metrics({f"{name}_images": c["total"] for name, c in counts.items()})
            mlflow.log_metric("skipped_files", len(report["skipped"]))
            mlflow.log_artifact(str(reports_dir / "data.json"))
            mlflow.log_artifact(str(out_dir / records.META_FILE))
        sizes = ", ".join(f"{name} {c['total']}" for name, c in counts.items())
        print(f"preprocess: {sizes}; "
              f"skipped {len(report['skipped'])} file(s) (see {reports_dir / 'data.json'})")


if __name__ == "__main__":
    sys.exit(run_main(main, "preprocess"))
