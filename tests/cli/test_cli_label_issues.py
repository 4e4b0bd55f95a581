"""convpipe label-issues prints the label_check stage's report."""

import json

import numpy as np

from convpipe.cli import main
from convpipe.evaluate import label_issues


def write_report(folder):
    found = label_issues.suspects(
        np.array([1, 0]),
        np.array([[0.2, 0.8], [0.9, 0.1]]),
        np.array([0, 0]),
        ["3", "8"],
        ["3/a.png", "3/b.png"],
        ["train", "val"],
    )
    label_issues.write(found, label_issues.summary(found, 40, ["3", "8"], "pixels (Nystroem RBF)"), folder)


def test_it_prints_the_table_and_json(tmp_path, capsys):
    write_report(tmp_path)
    assert main(["label-issues", "--reports", str(tmp_path), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 of 40 train/val images look mislabelled (5.00%" in out
    assert "1  3/b.png  val  given 3  suggested 3" in out and "3/a.png" not in out
    assert main(["label-issues", "--reports", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["total"] == 2 and [s["path"] for s in printed["suspects"]] == ["3/b.png", "3/a.png"]


def test_a_missing_report_is_one_line_naming_the_file(tmp_path, capsys):
    assert main(["label-issues", "--reports", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "label_issues.csv: not found (run `dvc repro`" in err and "Traceback" not in err
