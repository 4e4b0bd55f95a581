"""data.exclude and data.relabel: the review files, their checks, and applying them to the split's records."""

from pathlib import Path

import pytest

from convpipe.core.params import ParamsError, load_params, parse
from convpipe.data import review
from convpipe.data.split import Record

RAW = Path("data/raw")
RECORDS = [Record(str(RAW / p), p.split("/")[0], p) for p in ("ants/a.jpg", "ants/b.jpg", "bees/c.jpg", "bees/d.jpg")]


def test_exclude_reads_a_reviewed_label_issues_csv_or_one_path_a_line(tmp_path):
    report = tmp_path / "reviewed.csv"
    report.write_text("rank,path,split,given_label\n1,ants/a.jpg,train,ants\n2,bees/c.jpg,val,bees\n", encoding="utf-8")
    assert review.read_exclude(report) == ["ants/a.jpg", "bees/c.jpg"]
    listed = tmp_path / "exclude.txt"
    listed.write_text("ants/a.jpg\n\n bees/c.jpg \n", encoding="utf-8")
    assert review.read_exclude(listed) == ["ants/a.jpg", "bees/c.jpg"]


def test_relabel_reads_path_label_rows_with_or_without_a_header(tmp_path):
    (tmp_path / "r.csv").write_text("path,label\nants/a.jpg,bees\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text("ants/a.jpg, bees\n", encoding="utf-8")
    assert review.read_relabel(tmp_path / "r.csv") == review.read_relabel(tmp_path / "s.csv") == {"ants/a.jpg": "bees"}
    (tmp_path / "bad.csv").write_text("ants/a.jpg\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv: row 1 'ants/a.jpg': expected path,label"):
        review.read_relabel(tmp_path / "bad.csv")


def test_a_missing_review_file_is_named():
    with pytest.raises(FileNotFoundError, match="data/review/nope.csv: not found"):
        review.read_exclude(Path("data/review/nope.csv"))


def test_apply_excludes_and_relabels_and_says_what_it_changed():
    kept, done = review.apply(RECORDS, RAW, ["bees/d.jpg"], {"ants/a.jpg": "bees", "ants/b.jpg": "ants"}, ("x", "y"))
    assert [(Path(r.path).relative_to(RAW).as_posix(), r.label) for r in kept] == [
        ("ants/a.jpg", "bees"),
        ("ants/b.jpg", "ants"),
        ("bees/c.jpg", "bees"),
    ]
    assert done == {
        "excluded": 1,
        "relabelled": 1,
        "excluded_paths": ["bees/d.jpg"],
        "changes": [{"path": "ants/a.jpg", "from": "ants", "to": "bees"}],
    }


def test_a_path_not_in_the_data_or_an_unknown_class_is_an_error_naming_the_file_and_the_path():
    sources = ("data.exclude data/review/x.csv", "data.relabel data/review/y.csv")
    with pytest.raises(ValueError, match=r"data\.exclude data/review/x\.csv: 'ants/zz\.jpg' is not an image"):
        review.apply(RECORDS, RAW, ["ants/zz.jpg"], {}, sources)
    with pytest.raises(ValueError, match=r"data/review/y\.csv: 'ants/a\.jpg' → 'wasps' is not a class"):
        review.apply(RECORDS, RAW, [], {"ants/a.jpg": "wasps"}, sources)


@pytest.mark.parametrize("value", ["/etc/passwd", "data/raw/x.csv", "data/review/../../x.csv", "data/review/a/b.csv"])
def test_params_accept_only_a_file_in_the_review_folder(value):
    raw = load_params().model_dump(mode="json")
    raw["data"]["exclude"] = value
    with pytest.raises(ParamsError, match="data.exclude"):
        parse(raw)
    raw["data"]["exclude"] = "data/review/exclude.csv"
    assert parse(raw).data.exclude == "data/review/exclude.csv"
