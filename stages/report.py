"""report: assemble reports/report.md from the evaluate, preprocess, label_check and export stages' reports.

Also shows the values train and finetune resolved from "auto" defaults (paths.finetune/phases.json).
Reads params: tracking.
Writes: paths.reports/report.md (links the figures in paths.reports/figures/ by relative path).
"""

import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path

from convpipe.core.atomic import atomic_file
from convpipe.core.errors import run_main
from convpipe.core.params import load_params
from convpipe.core.paths import load_paths
from convpipe.core.tracking import stage_run
from convpipe.evaluate import label_issues, report

SUSPECTS_LISTED = 10  # top rows of label_issues.csv in the report


def read_json(path: Path) -> dict:
    """A report file, with a message naming the stage that writes it when it is missing."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found (run `dvc repro` to produce it)") from None


def main() -> None:
    params, paths = load_params(), load_paths()
    reports = paths.reports
    with stage_run("report", params) as run:
        with open(reports / "plots" / "learning_curve.csv", newline="", encoding="utf-8") as handle:
            curve = list(csv.DictReader(handle))
        figures = sorted(path.name for path in (reports / "figures").glob("*.png"))
        phases = paths.finetune / "phases.json"
        training = read_json(phases).get("resolved", {}) if phases.exists() else {}
        page = report.render(
            read_json(reports / "metrics.json"),
            read_json(reports / "data.json"),
            read_json(reports / "export.json"),
            curve,
            figures,
            training,
            [asdict(s) for s in label_issues.read(reports)[0][:SUSPECTS_LISTED]],
        )
        with atomic_file(reports / "report.md") as handle:
            handle.write(page)
        run.log_artifact(reports / "report.md")
        print(f"report: wrote {reports / 'report.md'} with {len(figures)} figure(s)")


if __name__ == "__main__":
    sys.exit(run_main(main, "report"))
