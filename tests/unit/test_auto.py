"""The "auto" defaults: image size, colour mode and near-duplicate distance from the images; epochs, batch size
and the finetune depth and rate from the model kind and the train split; the warm-up + cosine schedule."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images

from convpipe.core.params import Finetune, Model, Train
from convpipe.data import auto as data_auto
from convpipe.data import near_duplicates, split
from convpipe.model import auto
from convpipe.model.training import cosine_schedule

SCRATCH = Model(arch="convnet_bn", filters=[8], dropout=0.1)
PRETRAINED = Model(arch="mobilenet", filters=[8], dropout=0.1, weights="imagenet")
RANDOM_BASE = Model(arch="mobilenet", filters=[8], dropout=0.1)  # a pretrained arch without weights: from scratch


def save(pixels, path, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **options)
    return str(path)


def test_image_size_keeps_the_digits_at_16_and_caps_photos_at_160():
    assert data_auto.image_size("auto", [(8, 8)] * 5) == [16, 16]
    assert data_auto.image_size("auto", [(28, 28), (28, 28), (30, 40)]) == [28, 28]
    assert data_auto.image_size("auto", [(375, 500), (500, 333), (400, 600)]) == [160, 160]
    assert data_auto.image_size([32, 48], [(8, 8)]) == [32, 48]  # explicit wins


def test_image_size_under_a_pretrained_base_is_its_imagenet_resolution():
    photos = [(375, 500), (500, 333), (400, 600)]
    assert data_auto.image_size("auto", photos, pretrained=True) == [224, 224]
    assert data_auto.image_size("auto", [(8, 8)] * 5, pretrained=True) == [224, 224]
    assert data_auto.image_size([160, 160], photos, pretrained=True) == [160, 160]  # explicit wins


def test_the_typical_side_is_the_median_shorter_side(tmp_path):
    paths = [save(np.zeros((h, w), np.uint8), tmp_path / f"{h}x{w}.png") for h, w in [(20, 90), (64, 64), (90, 100)]]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    sides = data_auto.image_sides([*paths, str(tmp_path / "broken.png")], max_pixels=10**6)
    assert sorted(sides) == [(20, 90), (64, 64), (90, 100)] and data_auto.typical_side(sides) == 64


def test_colour_mode_is_rgb_only_when_the_channels_differ(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (32, 32), dtype=np.uint8)
    grey_as_rgb = save(np.stack([grey] * 3, axis=-1), tmp_path / "grey-rgb.jpg", quality=90)
    grey_l = save(grey, tmp_path / "grey.png")
    colour = save(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), tmp_path / "colour.png")
    assert data_auto.color_mode("auto", [grey_as_rgb, grey_l], 10**6) == "grayscale"
    assert data_auto.color_mode("auto", [grey_l, colour], 10**6) == "rgb"
    assert data_auto.color_mode("grayscale", [colour], 10**6) == "grayscale"  # explicit wins


def test_the_sample_is_spread_and_independent_of_order():
    paths = [f"p{i:04d}" for i in range(1000)]
    chosen = data_auto.sample(paths, 10)
    assert chosen == data_auto.sample(list(reversed(paths)), 10) and chosen[:2] == ["p0000", "p0100"]
    assert data_auto.sample(paths[:5], 10) == paths[:5]


def test_near_duplicate_distance_is_1_for_tiny_images_and_8_for_photos():
    assert data_auto.near_duplicate_distance("auto", [(8, 8)]) == 1
    assert data_auto.near_duplicate_distance("auto", [(32, 32)]) == 1
    assert data_auto.near_duplicate_distance("auto", [(375, 500)]) == 8
    assert data_auto.near_duplicate_distance(0, [(375, 500)]) == 0  # explicit wins


def test_a_low_quality_jpeg_copy_of_a_photo_lands_in_its_originals_split(tmp_path):
    # 24 distinct 160×200 photos (tiles of two real photos) in two classes, and a JPEG quality-30 copy of each.
    records = []
    for n, pixels in enumerate(load_sample_images().images):
        for i, (top, left) in enumerate([(y, x) for y in (0, 200) for x in range(0, 440, 80)]):
            tile = pixels[top : top + 160, left : left + 200]
            label = "ab"[(n + i) % 2]
            original = save(tile, tmp_path / label / f"{n}-{i}.png")
            copy = save(tile, tmp_path / label / f"{n}-{i}-q30.jpg", quality=30)
            records += [split.Record(original, label, f"{n}-{i}"), split.Record(copy, label, f"{n}-{i}-q30")]
    paths = [r.path for r in records]
    distance = data_auto.near_duplicate_distance("auto", data_auto.image_sides(data_auto.sample(paths), 10**8))
    assert distance == 8
    hashes = near_duplicates.hash_all(paths, "phash", 10**8, 1)
    groups = [[records[i] for i in g.members] for g in near_duplicates.group(hashes, distance)]
    splits = split.assign(records, 0.2, 0.2, 42, groups=groups)
    where = {r.path: name for name, members in splits.items() for r in members}
    assert {where[p] for p in paths[::2]} == {"train", "val", "test"}  # the photos are spread over all splits ...
    assert all(where[original] == where[copy] for original, copy in zip(paths[::2], paths[1::2]))  # ... with copies


def test_epochs_cap_by_model_kind():
    assert auto.epochs("auto", SCRATCH) == 60
    assert auto.epochs("auto", PRETRAINED) == 20
    assert auto.epochs("auto", RANDOM_BASE) == 60
    assert auto.epochs(7, PRETRAINED) == 7


@pytest.mark.parametrize("count,expected", [(1257, 64), (705, 64), (704, 32), (196, 16), (100, 8), (10, 8)])
def test_batch_size_halves_until_an_epoch_has_12_steps(count, expected):
    assert auto.batch_size("auto", count) == expected
    assert auto.batch_size(48, count) == 48


def train(**changes):
    return Train(**{"learning_rate": 0.003, "patience": 6, **changes})


def test_train_settings_resolve_epochs_and_batch_size_only():
    resolved = auto.train_settings(train(), PRETRAINED, 196)
    assert (resolved.epochs, resolved.batch_size, resolved.learning_rate) == (20, 16, 0.003)
    assert (
        auto.train_settings(train(epochs=5, batch_size=4), SCRATCH, 196).model_dump()
        == train(epochs=5, batch_size=4).model_dump()
    )


def test_finetune_defaults_by_model_kind():
    settings = Finetune(epochs=10, patience=4)
    on_base = auto.finetune_settings(settings, train(), PRETRAINED)
    assert on_base.unfreeze == 0.3 and on_base.learning_rate == pytest.approx(0.0001)
    scratch = auto.finetune_settings(settings, train(), SCRATCH)
    assert scratch.unfreeze == "all" and scratch.learning_rate == pytest.approx(0.0003)
    explicit = auto.finetune_settings(
        Finetune(epochs=10, patience=4, unfreeze=12, learning_rate=1e-5), train(), PRETRAINED
    )
    assert (explicit.unfreeze, explicit.learning_rate) == (12, 1e-5)


def test_cosine_schedule_warms_up_linearly_then_decays():
    rate = cosine_schedule(0.003, epochs=10, warmup_epochs=2)
    rates = [rate(epoch) for epoch in range(10)]
    assert rates[:3] == pytest.approx([0.001, 0.002, 0.003])
    assert rates[2 + 4] == pytest.approx(0.0015)  # half-way through the decay: half the rate
    assert all(a > b for a, b in zip(rates[2:], rates[3:])) and rates[-1] > 0
    assert rate(50) == pytest.approx(0.0)  # past the planned epochs it stays at the bottom
    assert cosine_schedule(0.01, 5, 0)(0) == pytest.approx(0.01)
