import hashlib
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from convpipe.data.images import ImageRejected, Skipped, file_sha256, list_images, load_image, resize
from tests import dirty_images as dirty

LIMIT = 89_478_485  # Pillow's own default


def load(path, color_mode="rgb", max_pixels=LIMIT):
    image, notes = load_image(path, color_mode, max_pixels)
    return np.asarray(image), notes


def reason(path, max_pixels=LIMIT):
    with pytest.raises(ImageRejected) as info:
        load_image(path, "rgb", max_pixels)
    return info.value.reason


@pytest.mark.parametrize("name", sorted(dirty.CASES))
def test_every_dirty_case_is_kept_or_rejected_as_documented(tmp_path, name):
    generate, expected = dirty.CASES[name]
    path = generate(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither a crash nor a warning, whatever the file
        if expected == "kept":
            array, _ = load(path)
            assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3
        else:
            assert reason(path).startswith(expected)


def test_rejection_message_names_the_file(tmp_path):
    path = dirty.empty_file(tmp_path)
    with pytest.raises(ImageRejected, match="empty.jpg: empty file"):
        load_image(path, "rgb", LIMIT)


@pytest.mark.parametrize(
    "generate, expected",
    [
        (dirty.corrupt_bytes, "not an image: cannot identify image file"),
        (dirty.text_as_jpg, "not an image: cannot identify image file"),
        (dirty.empty_file, "empty file"),
        (dirty.truncated_jpeg, "truncated image"),
    ],
)
def test_unreadable_files_are_rejected_with_reason(tmp_path, generate, expected):
    assert reason(generate(tmp_path)) == expected


def test_corrupt_pixel_data_is_rejected(tmp_path):
    assert reason(dirty.corrupt_png(tmp_path)).startswith("corrupt image: ")


def test_truncated_stays_rejected_even_if_someone_enabled_load_truncated(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert reason(dirty.truncated_jpeg(tmp_path)) == "truncated image"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for whoever set it


def test_pixel_limit_is_checked_on_the_header(tmp_path):
    assert reason(dirty.grayscale_png(tmp_path), max_pixels=100) == "decompression bomb: 128 pixels > limit 100"


@pytest.mark.parametrize("size", [(30000, 30000), (10000, 10000)])  # above Pillow's error / warning limit
def test_bomb_header_is_rejected_before_decoding_without_warning(tmp_path, size):
    path = dirty.bomb_png(tmp_path, size=size)
    assert path.stat().st_size < 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reason(path, max_pixels=10**12).startswith("decompression bomb: ")


def test_single_frame_gif_is_kept_without_notes(tmp_path):
    array, notes = load(dirty.single_frame_gif(tmp_path))
    assert notes == [] and tuple(array[0, 0]) == dirty.RED


@pytest.mark.parametrize("name", ["animated.gif", "animated.webp"])
def test_animated_keeps_first_frame_and_says_so(tmp_path, name):
    array, notes = load(dirty.animated(tmp_path, name, frames=4))
    assert notes == ["animated: used first of 4 frames"]
    assert tuple(array[0, 0]) == dirty.RED


def test_grayscale_becomes_three_equal_channels_or_stays_one(tmp_path):
    path = dirty.grayscale_png(tmp_path)
    rgb, notes = load(path)
    gray, _ = load(path, "grayscale")
    assert notes == [] and rgb.shape == (8, 16, 3) and gray.shape == (8, 16)
    assert (rgb[..., 0] == gray).all() and (rgb[..., 2] == gray).all()
    assert gray[0, 15] == 240


def test_palette_transparency_is_flattened_onto_white(tmp_path):
    array, notes = load(dirty.palette_with_transparency(tmp_path))
    assert notes == ["transparency flattened onto white"]
    assert tuple(array[0, 0]) == dirty.WHITE and tuple(array[0, 15]) == dirty.RED


def test_rgba_is_composited_not_alpha_dropped(tmp_path):
    array, notes = load(dirty.rgba_png(tmp_path))
    assert notes == ["transparency flattened onto white"]
    assert tuple(array[0, 0]) == (255, 127, 127)  # dropping alpha would give pure red


def test_cmyk_converts_to_rgb(tmp_path):
    array, notes = load(dirty.cmyk_jpeg(tmp_path))
    assert notes == ["converted from CMYK"]
    assert np.abs(array[0, 0].astype(int) - (0, 255, 255)).max() <= 3


def test_16bit_is_scaled_not_clipped(tmp_path):
    array, notes = load(dirty.png_16bit(tmp_path), "grayscale")
    assert notes == ["scaled I;16 to 8-bit"]
    assert array[0].tolist() == [0, 4, 117, 255]  # clipping would give 0, 255, 255, 255


def test_bilevel_becomes_black_and_white(tmp_path):
    array, _ = load(dirty.bilevel_png(tmp_path), "grayscale")
    assert array[0, 0] == 0 and array[0, 15] == 255


def test_exif_orientation_6_rotates_clockwise(tmp_path):
    array, notes = load(dirty.exif_rotated_jpeg(tmp_path))
    assert notes == ["exif-rotated: orientation 6"]
    assert array.shape == (40, 20, 3)  # stored 40 wide, 20 high
    # The stored top-left red corner ends up top-right after a quarter turn clockwise.
    assert array[2, 17, 0] > 200 and array[2, 17, 1] < 60
    assert array[2, 2].min() > 200


def test_non_ascii_name_loads(tmp_path):
    array, _ = load(dirty.non_ascii_png(tmp_path))
    assert array.shape == (48, 64, 3)


def test_unknown_color_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'rgba' is not one of"):
        load_image(dirty.good_jpeg(tmp_path), "rgba", LIMIT)


def test_list_images_is_sorted_recursive_and_reports_skips(tmp_path):
    dirty.good_jpeg(tmp_path, "b.JPG")
    dirty.good_jpeg(tmp_path, "a.jpeg")
    dirty.nested(tmp_path)
    dirty.non_ascii_png(tmp_path)
    dirty.hidden_files(tmp_path)
    (tmp_path / "labels.csv").write_text("x\n")
    (tmp_path / "LICENSE").write_text("x\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.jpg").write_bytes(b"x")
    images, skipped = list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in images] == [
        "a.jpeg",
        "b.JPG",
        "café_ñ_日本.png",
        "a/b/deep.jpg",
    ]
    assert skipped == [
        Skipped(str(tmp_path / name), reason)
        for name, reason in [
            (".git", "hidden directory"),
            (".DS_Store", "hidden file"),
            ("._x.jpg", "hidden file"),
            ("LICENSE", "no file extension"),
            ("labels.csv", "not an image extension: .csv"),
        ]
    ]


def test_resize_returns_uint8_hwc(tmp_path):
    image, _ = load_image(dirty.good_jpeg(tmp_path), "rgb", LIMIT)  # 64 wide, 48 high
    assert resize(image, (24, 32)).shape == (24, 32, 3)
    gray, _ = load_image(dirty.good_jpeg(tmp_path), "grayscale", LIMIT)
    out = resize(gray, (96, 128))
    assert out.shape == (96, 128, 1) and out.dtype == np.uint8


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"abc" * 100_000)
    assert file_sha256(path) == hashlib.sha256(b"abc" * 100_000).hexdigest()


def test_make_dirty_dataset_counts_hold(tmp_path):
    expected = dirty.make_dirty_dataset(tmp_path)
    images, skipped = list_images(tmp_path)
    kept = rejected = 0
    for path in images:
        try:
            load_image(path, "rgb", LIMIT)
            kept += 1
        except ImageRejected:
            rejected += 1
    assert {"kept": kept, "rejected": rejected, "skipped": len(skipped)} == expected


def test_a_thumbnail_is_shrunk_before_conversion_keeping_orientation_and_levels(tmp_path):
    image, notes = load_image(dirty.exif_rotated_jpeg(tmp_path), "rgb", 10**8, max_side=10)
    assert notes == ["exif-rotated: orientation 6"] and image.size == (5, 10)  # 40×20 stored, turned upright
    deep = tmp_path / "deep.png"  # 16-bit, 4000 wide: shrunk by picking samples, then scaled like the full image
    Image.fromarray(np.tile(np.repeat(np.array([0, 1000, 30000, 65535], np.uint16), 1000), (8, 1))).save(deep)
    image, notes = load_image(deep, "grayscale", 10**8, max_side=40)
    assert image.size == (40, 1) and notes == ["scaled I to 8-bit"]
    levels = np.asarray(image, np.int16)[0, [5, 15, 25, 35]]  # the middle of each level's columns
    assert np.abs(levels - [0, 4, 117, 255]).max() <= 2  # scaled as the full image is: never clipped
    canvas = tmp_path / "canvas.gif"  # a few KB that decode to 3000×3000
    Image.new("P", (3000, 3000), 0).save(canvas)
    assert load_image(canvas, "rgb", 10**8, max_side=160)[0].size == (160, 160)
