"""download: materialise `data.source` as an image folder, paths.raw/<class>/<file>.

Reads params: data (source and its bounds), tracking. Writes: paths.raw (images, download.json, and
source_splits.csv for a source that came split).
"""

import sys

from convpipe.core.atomic import atomic_dir
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.data import layout, sources


def main() -> None:
    params, paths = load_params(), load_paths()
    with stage_run("download", params) as run:
        with atomic_dir(paths.raw) as part:
            counts = sources.materialise(params.data, part)
        skipped = layout.read_download_report(paths.raw)["skipped"]
        run.log_metrics({"images": sum(counts.values()), "classes": len(counts), "skipped_files": len(skipped)})
        run.log_artifact(paths.raw / layout.DOWNLOAD_REPORT)
        print(
            f"download: {sum(counts.values())} images in {len(counts)} classes → {paths.raw}"
            + (f"; skipped {len(skipped)} file(s), listed in {paths.raw / layout.DOWNLOAD_REPORT}" if skipped else "")
        )


if __name__ == "__main__":
    sys.exit(run_main(main, "download"))
