"""`convpipe bench` runs the real stages in copies of the project and writes what it measured."""

import json
import subprocess
import sys

import pytest

from tests import project as project_copy


@pytest.mark.slow  # generates images and runs three stages
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


@pytest.mark.slow  # trains the default model three times over, on the shared built project
def test_input_and_inference_sections_on_a_built_project(copy_of_built):
    from convpipe.bench.inference import inference
    from convpipe.bench.input_pipeline import efficiency

    figures = efficiency(copy_of_built)
    assert figures["train_images"] > 0 and figures["pipeline_images_per_s"] > 0 and figures["efficiency"] > 0
    table = inference(copy_of_built, runs=3)
    assert {"keras", "tflite_int8", "onnx"} <= set(table)
    assert all(row["p50_ms"] > 0 and row["batch32_images_per_s"] > 0 for row in table.values())


@pytest.mark.slow  # trains the built project's model twice
def test_time_to_accuracy_races_float32_and_auto_on_a_built_project(copy_of_built):
    from convpipe.bench.time_to_accuracy import race

    rows = [race(copy_of_built, 0.0, policy) for policy in ("float32", "auto")]
    for row in rows:
        assert row["resolved"] in ("float32", "mixed_bfloat16", "mixed_float16")
        assert row["train_epochs"] > 0 and "finetune_s" not in row  # a target of 0 is reached in train's first epoch
        assert 0 < row["seconds_to_target"] <= row["train_s"]
    assert rows[0]["resolved"] == "float32"
