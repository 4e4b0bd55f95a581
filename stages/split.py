"""split: hash, deduplicate and assign every image to train/val/test by content.

Reads params: seed, paths, data, tracking. Writes: paths.split/{train,val,test}.csv and summary.json.
"""
import json
import sys
from dataclasses import asdict
from pathlib import Path

import mlflow

from convpipe import params as params_module
from convpipe.atomic import atomic_dir
from convpipe.data import layout, split
from convpipe.errors import run_main
from convpipe.tracking import stage_run


def main() -> None:
    params = params_module.load()
    raw_dir, out_dir = Path(params.paths.raw), Path(params.paths.split)
    with stage_run("split", params) as run:
        records, skipped = split.scan(raw_dir, ignore=layout.METADATA_FILES)
        unique, dropped = split.deduplicate(records)
        fixed = layout.read_source_splits(raw_dir) if params.data.keep_source_splits else {}
        splits = split.assign(unique, params.data.val_fraction, params.data.test_fraction, params.seed,
                              params.data.max_per_class, fixed)
        summary = {
            "images_found": len(records),
            "source_splits": sorted(set(fixed.values())),
            "counts": {name: len(members) for name, members in splits.items()},
            "skipped": layout.read_download_report(raw_dir)["skipped"] + [asdict(s) for s in skipped + dropped],
        }
        with atomic_dir(out_dir) as part:
            for name, members in splits.items():
                split.write_manifest(members, part / f"{name}.csv")
            with open(part / "summary.json", "w", encoding="utf-8") as handle:
                json.dump(summary, handle, indent=2, ensure_ascii=False)
        if run:
            mlflow.log_metrics({f"{name}_images": count for name, count in summary["counts"].items()})
            mlflow.log_metric("skipped_files", len(summary["skipped"]))
            mlflow.log_artifacts(str(out_dir), "split")
        print(f"split: {summary['counts']}, skipped {len(summary['skipped'])} file(s)")


if __name__ == "__main__":
    sys.exit(run_main(main, "split"))
