"""The label_check stage in the built project, and data.exclude / data.relabel acting at split through DVC."""

import csv
import json

import pytest

from convpipe.ops import gate
from tests.project import run, set_params

pytestmark = pytest.mark.slow  # the built project needs a full `dvc repro`


def test_the_stage_writes_its_report_and_evaluate_and_the_report_carry_it(built_project):
    reports = built_project / "reports"
    with open(reports / "label_issues.json", encoding="utf-8") as handle:
        counts = json.load(handle)
    with open(reports / "label_issues.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert counts["total"] == len(rows) and counts["checked"] > 0
    assert counts["features"] == "pixels (Nystroem RBF)"
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["split"] in ("train", "val") and not r["path"].startswith("data/raw") for r in rows)
    assert (reports / "label_issues.png").stat().st_size > 1000
    values = gate.read_workspace(reports)
    assert values["data.label_issues.fraction"] == counts["fraction"]
    assert "label_issues.png" in (reports / "report.md").read_text(encoding="utf-8")


def test_exclude_and_relabel_rerun_split_and_are_recorded(copy_of_built):
    repo = copy_of_built
    with open(repo / "data" / "split" / "train.csv", newline="", encoding="utf-8") as handle:
        first, second = [r["path"].removeprefix("data/raw/") for r in list(csv.DictReader(handle))[:2]]
    (repo / "data" / "review" / "exclude.csv").write_text(f"{first}\n", encoding="utf-8")
    (repo / "data" / "review" / "relabel.csv").write_text(f"path,label\n{second},0\n", encoding="utf-8")
    set_params(repo, data={"exclude": "data/review/exclude.csv", "relabel": "data/review/relabel.csv"})
    run("dvc", "repro", "preprocess", cwd=repo)
    with open(repo / "reports" / "data.json", encoding="utf-8") as handle:
        done = json.load(handle)["review"]
    assert done["excluded_paths"] == [first] and done["excluded"] == 1
    assert done["relabelled"] == (0 if second.startswith("0/") else 1)
    manifests = "".join((repo / "data" / "split" / f"{s}.csv").read_text(encoding="utf-8") for s in ("train", "val"))
    assert f"data/raw/{first}," not in manifests

    # Editing the file (not the params) re-runs split: data/review is its dependency.
    (repo / "data" / "review" / "exclude.csv").write_text("0/no-such.png\n", encoding="utf-8")
    assert "split" in run("dvc", "status", "split", cwd=repo).stdout
    failed = run("dvc", "repro", "split", cwd=repo, check=False)
    assert failed.returncode != 0
    assert "data.exclude data/review/exclude.csv: '0/no-such.png' is not an image of the data" in failed.stderr
