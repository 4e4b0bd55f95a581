"""download: materialise `data.source` as an image folder, paths.raw/<class>/<file>.

Reads params: paths, data, tracking. Writes: paths.raw (images, download.json, source_splits.csv if any).
"""
import sys
from pathlib import Path

import mlflow

from convpipe import params as params_module
from convpipe.atomic import atomic_dir
from convpipe.data import layout, sources
from convpipe.errors import run_main
from convpipe.tracking import stage_run


def main() -> None:
    params = params_module.load()
    raw_dir = Path(params.paths.raw)
    with stage_run("download", params) as run:
        with atomic_dir(raw_dir) as part:
            counts = sources.fetch(params.data, part)
        skipped = layout.read_download_report(raw_dir)["skipped"]
        if run:
            mlflow.log_metrics({"images": sum(counts.values()), "classes": len(counts), "skipped_files": len(skipped)})
            mlflow.log_artifact(str(raw_dir / layout.DOWNLOAD_REPORT))
        print(f"download: {sum(counts.values())} images in {len(counts)} classes → {raw_dir}"
              + (f"; skipped {len(skipped)} file(s), listed in {raw_dir / layout.DOWNLOAD_REPORT}" if skipped else ""))


if __name__ == "__main__":
    sys.exit(run_main(main, "download"))
