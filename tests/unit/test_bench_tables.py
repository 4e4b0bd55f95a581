"""Benchmark figures render as Markdown tables, with targets beside the figures that have one."""

from convpipe.bench import tables
from convpipe.bench.scale import generate


def test_scalars_nested_rows_and_lists_become_tables():
    text = tables.section(
        "overhead",
        {
            "noop_repro_s": 2.5,
            "shape": [16, 16, 1],
            "stages": {"train": {"startup_s": 3.0, "tf": True}},
            "rows": [{"images": 10, "rate": 1.5}],
        },
    )
    assert "### overhead" in text
    assert "| noop_repro_s | 2.5 | < 5 |" in text
    assert "| shape | 16×16×1 |  |" in text
    assert "| train | 3 | yes |" in text
    assert "| 10 | 1.5 |" in text


def test_generated_images_are_distinct_and_spread_over_classes(tmp_path):
    generate(tmp_path, 8)
    files = sorted(tmp_path.rglob("*.jpg"))
    assert len(files) == 8 and len({f.parent.name for f in files}) == 4
    assert len({f.read_bytes() for f in files}) == 8


def test_a_mapping_of_rows_is_one_table():
    text = tables.section(
        "inference",
        {"keras": {"runtime": "tf.keras", "p50_ms": 3.5}, "onnx": {"runtime": "ONNX Runtime", "p50_ms": 0.05}},
    )
    assert text.count("| runtime |") == 1
    assert "| onnx | ONNX Runtime | 0.05 |" in text
