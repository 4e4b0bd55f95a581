"""download: materialise `data.source` as an image folder, paths.raw/<class>/<file>.

Reads params: paths, data, tracking. Writes: paths.raw.
"""
import shutil
import sys
from pathlib import Path

import mlflow

from convpipe import params as params_module
from convpipe.data import sources
from convpipe.errors import run_main
from convpipe.tracking import stage_run


def main() -> None:
    params = params_module.load()
    raw_dir = Path(params.paths.raw)
    with stage_run("download", params) as run:
        shutil.rmtree(raw_dir, ignore_errors=True)
        counts = sources.fetch(params.data.source, raw_dir)
        mlflow.log_metrics({"images": sum(counts.values()), "classes": len(counts)})
        mlflow.log_dict(counts, "class_counts.json")
        print(f"download: {sum(counts.values())} images in {len(counts)} classes → {raw_dir} (run {run.info.run_id})")


if __name__ == "__main__":
    sys.exit(run_main(main, "download"))
