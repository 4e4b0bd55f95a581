"""Artifact sizes and the int8 (de)quantization used to feed integer TFLite models."""

import gzip

import numpy as np

from convpipe.export import measure, runtimes


def test_sizes_of_a_file_and_of_a_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.bin").write_bytes(b"\0" * 1000)
    (tmp_path / "sub" / "b.bin").write_bytes(bytes(range(256)))
    assert measure.size_bytes(tmp_path / "a.bin") == 1000
    assert measure.size_bytes(tmp_path) == 1256
    zeros = len(gzip.compress(b"\0" * 1000, compresslevel=9, mtime=0))
    assert measure.gzip_bytes(tmp_path / "a.bin") == zeros < 50
    assert measure.gzip_bytes(tmp_path) > zeros + 256  # random-looking bytes do not shrink


def test_int8_round_trip_and_clipping():
    detail = {"dtype": np.int8, "quantization": (1.0, -128)}
    x = np.array([0.0, 127.4, 255.0, 300.0], dtype=np.float32)
    q = runtimes._quantize(x, detail)
    assert q.tolist() == [-128, -1, 127, 127]
    assert runtimes._dequantize(q, detail).tolist() == [0.0, 127.0, 255.0, 255.0]


def test_quality_against_the_reference():
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    probabilities = np.array([[0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    assert measure.quality(probabilities, np.array([0, 1, 1]), reference) == {
        "accuracy": 1 / 3,
        "agreement": 2 / 3,
        "max_abs_diff": 0.5,
    }
