"""Augmentation: one stateless affine transform; the same (seed, epoch) gives the same batches."""

import numpy as np
import pytest
import tensorflow as tf

from convpipe.core.params import Augment
from convpipe.data import shards
from convpipe.data.augment import affine, augmentation, resolve

OFF = {"flip": "none", "rotation": 0, "zoom": 0, "translation": 0, "contrast": 0, "brightness": 0}
SEED = tf.constant([7, 3], tf.int64)


def ramp(n=4, side=9):
    """Images whose pixels all differ, so any move of any pixel shows: 0-255 float32, n×side×side×1."""
    values = np.arange(side * side, dtype="float32").reshape(side, side) * (255 / (side * side))
    return np.stack([values[..., None]] * n)


def test_no_transform_asked_is_no_function():
    assert augmentation(Augment(**OFF)) is None


@pytest.mark.parametrize("channels,flip", [(3, "horizontal"), (1, "none")])
def test_auto_flip_mirrors_colour_images_only(channels, flip):
    assert resolve(Augment(**{**OFF, "flip": "auto"}), channels).flip == flip


@pytest.mark.parametrize("channels", [1, 3])
def test_an_explicit_flip_wins_over_auto(channels):
    assert resolve(Augment(**{**OFF, "flip": "vertical"}), channels).flip == "vertical"


def test_an_unresolved_auto_flip_is_refused():
    with pytest.raises(ValueError, match="augment.resolve"):
        augmentation(Augment(**{**OFF, "flip": "auto"}))


def test_same_seed_same_images_other_seed_other_images():
    augment = augmentation(Augment(**{**OFF, "rotation": 0.1, "zoom": 0.2, "translation": 0.1, "contrast": 0.3}))
    images = ramp()
    first, again = augment(images, SEED).numpy(), augment(images, SEED).numpy()
    other = augment(images, tf.constant([7, 4], tf.int64)).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other) and not np.array_equal(first, images)
    assert first.shape == images.shape and first.min() >= 0 and first.max() <= 255
    # each image of a batch gets its own transform
    assert not np.array_equal(first[0], first[1])


def test_the_identity_transform_leaves_pixels_where_they_are():
    images = ramp(2)
    ones, zeros = tf.ones([2]), tf.zeros([2])
    np.testing.assert_allclose(affine(images, ones, ones, zeros, ones, tf.zeros([2, 2])).numpy(), images, atol=1e-4)


def test_flips_and_a_quarter_turn_move_pixels_exactly():
    images = ramp(1)
    ones, zeros, still = tf.ones([1]), tf.zeros([1]), tf.zeros([1, 2])
    np.testing.assert_allclose(affine(images, -ones, ones, zeros, ones, still).numpy(), images[:, :, ::-1], atol=1e-3)
    np.testing.assert_allclose(affine(images, ones, -ones, zeros, ones, still).numpy(), images[:, ::-1], atol=1e-3)
    turned = affine(images, ones, ones, ones * (np.pi / 2), ones, still).numpy()
    assert any(np.allclose(turned[0, ..., 0], np.rot90(images[0, ..., 0], k), atol=1e-3) for k in (1, 3))


def test_a_shift_moves_the_image_and_fills_with_black():
    images = np.full((1, 8, 8, 1), 200, "float32")
    ones = tf.ones([1])
    shifted = affine(images, ones, ones, tf.zeros([1]), ones, tf.constant([[0.25, 0.0]])).numpy()[0, ..., 0]
    assert (shifted[:, :2] == 0).all() and (shifted[:, 2:] == 200).all()


@pytest.mark.parametrize("key, low, high", [("brightness", 0.2, 0.2), ("contrast", 0.5, 0.5)])
def test_photometric_changes_stay_in_range(key, low, high):
    augment = augmentation(Augment(**{**OFF, key: low}))
    images = ramp(8)
    out = augment(images, SEED).numpy()
    assert not np.array_equal(out, images) and out.min() >= 0 and out.max() <= 255
    if key == "brightness":  # one shift per image, within ±20% of 255 before clipping
        deltas = (out - images)[:, 4, 4, 0]
        assert np.all(np.abs(deltas) <= high * 255 + 1e-3) and len(set(np.round(deltas, 3))) > 1


def epochs_of(tmp_path, count=40, augment=None):
    from tests.unit.test_shards import prepare

    prepared = prepare(tmp_path, count)
    return shards.training_epochs(prepared, 8, seed=5, augment=augment)


def labels_in(ds):
    return np.concatenate([x[:, 0, 0, 0] for x, _ in ds.as_numpy_iterator()])


def test_each_epoch_is_a_new_order_and_the_same_one_when_built_again(tmp_path):
    augment = augmentation(Augment(**{**OFF, "brightness": 0.1}))
    train = epochs_of(tmp_path, augment=augment)
    epoch_0, epoch_1 = [np.concatenate([x for x, _ in train.epoch(e).as_numpy_iterator()]) for e in (0, 1)]
    assert not np.array_equal(epoch_0, epoch_1)
    (tmp_path / "again").mkdir()
    rebuilt = epochs_of(tmp_path / "again", augment=augment)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in rebuilt.epoch(1).as_numpy_iterator()]), epoch_1)


def test_every_image_once_per_epoch(tmp_path):
    train = epochs_of(tmp_path)
    for epoch in (0, 3):
        seen = labels_in(train.epoch(epoch))
        assert sorted(seen) == list(range(40)) and list(seen) != list(range(40))
