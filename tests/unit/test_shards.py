"""TFRecord shards: decoding keeps order across worker windows; reading is the same cached or not."""

import json

import numpy as np
from PIL import Image

from convpipe.data import shards
from convpipe.data.split import Record


def write_images(folder, count):
    result = []
    for i in range(count):
        path = folder / f"{i:03d}.png"
        Image.fromarray(np.full((4, 4), i, dtype=np.uint8)).save(path)
        result.append(Record(str(path), "even" if i % 2 == 0 else "odd", str(i)))
    return result


def prepare(tmp_path, count=70):
    images = write_images(tmp_path, count)
    out = tmp_path / "prepared"
    out.mkdir()
    summary = shards.write_split(images, ["even", "odd"], out, "train", 25, "grayscale", 10_000, (4, 4), workers=1)
    meta = {
        "class_names": ["even", "odd"],
        "image_size": [4, 4],
        "channels": 1,
        "counts": {"train": {**summary.counts, "total": count}},
    }
    (out / shards.META_FILE).write_text(json.dumps(meta))
    return out


def test_decoding_keeps_order_across_windows(tmp_path):
    images = write_images(tmp_path, 70)  # more than one window of 32 per worker
    decoded = list(shards.decode_all(images, "grayscale", 10_000, (4, 4), workers=1))
    assert [r.path for r, _, _ in decoded] == [r.path for r in images]
    assert [int(pixels[0, 0, 0]) for _, pixels, _ in decoded] == list(range(70))


def test_a_split_too_big_to_cache_reads_the_same_batches(tmp_path, monkeypatch):
    prepared = prepare(tmp_path)
    x, y = shards.arrays(prepared, "train")
    assert x.dtype == np.float32 and [int(v) for v in x[:, 0, 0, 0]] == list(range(70))
    cached = [b for b, _ in shards.dataset(prepared, "train", 8, shuffle_seed=1).as_numpy_iterator()]
    monkeypatch.setattr(shards, "cache_budget", lambda: 16 * 100)  # room for 100 images: still cached
    again = [b for b, _ in shards.dataset(prepared, "train", 8, shuffle_seed=1).as_numpy_iterator()]
    monkeypatch.setattr(shards, "cache_budget", lambda: 16 * 10)  # room for 10: not cached, buffer of 10
    streamed = [b for b, _ in shards.dataset(prepared, "train", 8).as_numpy_iterator()]
    assert all(np.array_equal(a, b) for a, b in zip(cached, again))
    np.testing.assert_array_equal(np.concatenate(streamed), x)
    shuffled = np.concatenate([b for b, _ in shards.dataset(prepared, "train", 8, shuffle_seed=1).as_numpy_iterator()])
    assert sorted(shuffled[:, 0, 0, 0]) == list(range(70)) and not np.array_equal(shuffled, x)
