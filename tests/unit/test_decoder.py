"""Decoding in decoder processes: the same pixels as preprocess, files in order, a reason for each failure."""

import numpy as np
import pytest
from PIL import Image

from convpipe.data.decoder import Decoder, Limits
from tests import dirty_images as dirty


def test_pixels_are_resized_like_preprocess(tmp_path):
    Image.new("RGB", (20, 10), (255, 0, 0)).save(tmp_path / "red.png")
    with Decoder("grayscale", (8, 6), Limits()) as decoder:
        [[decoded]] = decoder.batches([tmp_path / "red.png"], 256)
    assert decoded.error is None
    assert decoded.pixels.shape == (8, 6, 1) and decoded.pixels.dtype == np.uint8
    assert decoded.pixels.max() == pytest.approx(76, abs=1)  # ITU-R 601 luma of pure red


def test_batches_keep_the_order_and_say_why_a_file_failed(tmp_path):
    files = [
        dirty.good_jpeg(tmp_path),
        dirty.text_as_jpg(tmp_path),
        tmp_path / "missing.png",
        dirty.grayscale_png(tmp_path),
    ]
    with Decoder("rgb", (4, 4), Limits()) as decoder:
        batches = list(decoder.batches(files, 3))
    assert [[d.path for d in batch] for batch in batches] == [files[:3], files[3:]]
    errors = [d.error for batch in batches for d in batch]
    assert errors == [None, "not an image: cannot identify image file", "No such file or directory", None]
