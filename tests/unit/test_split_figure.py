"""The split stage's near-duplicate figure draws thumbnails: a small file declaring a huge canvas costs little."""

import numpy as np
from PIL import Image

from convpipe.evaluate import plots
from stages import split


def test_groups_are_drawn_from_uint8_thumbnails(tmp_path, monkeypatch):
    canvas = tmp_path / "canvas.gif"  # 3000×3000 from a few KB, like the 69 KB 9000² GIF a red team drew
    Image.new("P", (3000, 3000), 0).save(canvas)
    deep = tmp_path / "deep.png"  # 16-bit grey
    Image.fromarray(np.full((2000, 1500), 40000, np.uint16)).save(deep)
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 10), (200, 10, 10)).save(small)
    drawn = {}
    monkeypatch.setattr(plots, "image_rows", lambda rows, captions, title, path: drawn.update(rows=rows))
    listed = [{"paths": [str(canvas), str(deep), str(small)], "labels": ["a", "a", "b"], "split": ["train"]}]
    split.draw(listed, 10**8, tmp_path / "near_duplicates.png")
    [row] = drawn["rows"]
    assert [image.shape for image in row] == [(160, 160, 3), (160, 120, 3), (10, 20, 3)]
    assert all(image.dtype == np.uint8 for image in row)
    assert row[1][0, 0].tolist() == [156, 156, 156]  # 40000 / 257, as the full-size image would have it
