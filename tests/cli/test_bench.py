"""`convpipe bench` runs the real stages in copies of the project and writes what it measured."""

import json
import subprocess
import sys

from tests import project as project_copy


def test_scale_section_measures_the_preprocess_stage(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "convpipe",
            "bench",
            "--only",
            "scale",
            "--scale-sizes",
            "40",
            "--out",
            str(out),
            "--work",
            str(tmp_path),
        ],
        cwd=project_copy.ROOT,
        capture_output=True,
        text=True,
        env=project_copy.clean_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [row] = json.loads(out.read_text())["scale"]
    assert row["images"] == 40
    assert row["images_per_s"] > 0 and row["peak_rss_mb"] > 0 and row["cores_used"] > 0
    assert "### scale" in result.stdout and "| images |" in result.stdout


def test_outside_a_project_it_says_where_it_looked(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "convpipe", "bench", "--only", "scale"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert f"{tmp_path}: no dvc.yaml here" in result.stderr
