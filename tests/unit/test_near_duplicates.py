"""Near-duplicate grouping: which copies of a photo are caught at the default threshold, no false groups
among distinct photos, the block index finds exactly the close pairs, and groups never straddle splits."""

import hashlib

import numpy as np
import pytest
from PIL import Image, ImageOps
from sklearn.datasets import load_sample_images

from convpipe.core import params
from convpipe.data import auto, near_duplicates, split

DEFAULT = params.load_params().data  # the committed params.yaml: near_duplicate_hash, near_duplicate_distance
PHOTOS = dict(zip(("china", "flower"), load_sample_images().images))  # two real 427×640 photos, offline
# What near_duplicate_distance "auto" resolves to for them (photos) and for the 8×8 digits (tiny images).
PHOTO_DISTANCE = auto.near_duplicate_distance(DEFAULT.near_duplicate_distance, [(427, 640)])
TINY_DISTANCE = auto.near_duplicate_distance(DEFAULT.near_duplicate_distance, [(8, 8)])


def save(image: Image.Image, path, **options):
    image.save(path, **options)
    return path


def variants(name: str, folder) -> dict:
    """The photo and four altered copies of it, as files."""
    photo = Image.fromarray(PHOTOS[name])
    width, height = photo.size
    border = (round(width * 0.02), round(height * 0.02))
    return {
        "original": save(photo, folder / f"{name}.png"),
        "resized": save(photo.resize((width // 2, height // 2), Image.LANCZOS), folder / f"{name}-half.png"),
        "jpeg_q10": save(photo, folder / f"{name}-q10.jpg", quality=10),
        "crop_2pct": save(photo.crop((*border, width - border[0], height - border[1])), folder / f"{name}-crop.png"),
        "mirrored": save(ImageOps.mirror(photo), folder / f"{name}-mirror.png"),
    }


def hash_of(path, kind=DEFAULT.near_duplicate_hash):
    return near_duplicates.perceptual_hash(path, kind, DEFAULT.max_pixels)


def test_auto_distance_is_tight_for_tiny_images_and_loose_for_photos():
    assert (TINY_DISTANCE, PHOTO_DISTANCE) == (1, 8)


@pytest.mark.parametrize("name", PHOTOS)
def test_which_copies_are_caught_at_the_default_threshold(name, tmp_path):
    files = variants(name, tmp_path)
    original = hash_of(files["original"])
    apart = {kind: bin(original ^ hash_of(path)).count("1") for kind, path in files.items()}
    # Resizing and heavy JPEG re-encoding leave the pHash as it was: grouped at the default distance.
    assert apart["resized"] <= TINY_DISTANCE
    assert apart["jpeg_q10"] <= TINY_DISTANCE
    # A 2% crop moves it by a few bits (4 on both photos): missed at the tiny images' distance, which must
    # stay at 1 to keep distinct 8×8 digits apart, but caught at the photos' 8, safe for them (next test).
    assert TINY_DISTANCE < apart["crop_2pct"] <= PHOTO_DISTANCE
    # A mirror image is a different picture to a perceptual hash (over 30 of 64 bits): never caught.
    assert apart["mirrored"] > 16
    groups = near_duplicates.group(list(map(hash_of, files.values())), TINY_DISTANCE)
    assert [g.members for g in groups] == [(0, 1, 2)]
    groups = near_duplicates.group(list(map(hash_of, files.values())), PHOTO_DISTANCE)
    assert [g.members for g in groups] == [(0, 1, 2, 3)]


def test_distinct_real_photos_form_no_groups(tmp_path):
    # 30 non-overlapping 128×128 tiles of the two photos: sky, water, petals, roof, all distinct pictures.
    files = []
    for name, pixels in PHOTOS.items():
        for top in range(0, pixels.shape[0] - 127, 128):
            for left in range(0, pixels.shape[1] - 127, 128):
                tile = Image.fromarray(pixels[top : top + 128, left : left + 128])
                files.append(save(tile, tmp_path / f"{name}-{top}-{left}.png"))
    assert len(files) == 30
    for kind in near_duplicates.HASHES:
        hashes = [hash_of(path, kind) for path in files]
        assert near_duplicates.group(hashes, TINY_DISTANCE) == []
        assert near_duplicates.group(hashes, PHOTO_DISTANCE) == []  # the photos' auto distance is safe too


def test_the_block_index_finds_exactly_the_pairs_within_the_distance():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, 1500, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 1500, dtype=np.uint64)
    # Plant near-copies: each of the first 300 hashes again with 0-8 random bits flipped.
    flips = [
        np.bitwise_or.reduce(np.uint64(1) << rng.choice(64, k, replace=False).astype(np.uint64)) if k else np.uint64(0)
        for k in rng.integers(0, 9, 300)
    ]
    hashes = np.concatenate([hashes, hashes[:300] ^ np.array(flips, dtype=np.uint64)])
    bits = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    for distance in (1, 4, 8):
        i, j = np.nonzero(np.triu(bits <= distance, k=1))
        brute = {(int(a), int(b)): int(bits[a, b]) for a, b in zip(i, j)}
        assert near_duplicates.close_pairs(hashes, distance) == brute
        assert sum(1 for (a, b) in brute if b == a + 1500) == sum(bin(int(f)).count("1") <= distance for f in flips)


def test_an_unreadable_image_has_no_hash_and_joins_no_group(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert hash_of(tmp_path / "bad.png") is None
    assert near_duplicates.group([None, 5, 5 ^ 1, None], 1)[0].members == (1, 2)


def records(prefix: str, count: int, label: str = "a") -> list[split.Record]:
    return [
        split.Record(f"{prefix}{i}.png", label, hashlib.sha256(f"{prefix}{i}".encode()).hexdigest())
        for i in range(count)
    ]


def where(splits) -> dict[str, str]:
    return {r.path: name for name, members in splits.items() for r in members}


def test_groups_never_straddle_splits_and_stay_put_as_data_grows():
    base = records("x", 300) + records("y", 300, "b")
    groups = [base[i : i + 3] for i in range(0, 120, 3)] + [[base[200], base[450]]]  # one group spans two labels
    before = split.assign(base, 0.15, 0.15, 7, groups=groups)
    paths = [[r.path for r in g] for g in groups]
    ungrouped = where(split.assign(base, 0.15, 0.15, 7))
    assert near_duplicates.crossed(paths, ungrouped) > 10  # drawn one by one, most groups would straddle
    assert near_duplicates.crossed(paths, where(before)) == 0
    # Growth with unrelated images moves nothing that was placed.
    grown = where(split.assign(base + records("z", 200), 0.15, 0.15, 7, groups=groups))
    assert all(grown[path] == name for path, name in where(before).items())
    # A new near-copy joining a group: the group may follow its new smallest sha256 to another split,
    # but it moves as a whole, and nothing outside it moves.
    newcomer = split.Record("new-copy.png", "a", "0" * 64)
    grown_groups = [groups[0] + [newcomer], *groups[1:]]
    after = where(split.assign(base + [newcomer], 0.15, 0.15, 7, groups=grown_groups))
    assert near_duplicates.crossed([[r.path for r in g] for g in grown_groups], after) == 0
    assert all(after[path] == name for path, name in where(before).items() if path not in paths[0])


def test_a_group_touching_a_fixed_test_image_goes_to_test():
    base = records("x", 100)
    fixed = {r.path: "train" for r in base} | {base[5].path: "test"}
    splits = where(split.assign(base, 0.15, 0.15, 3, fixed=fixed, groups=[[base[4], base[5], base[6]]]))
    assert {splits[base[i].path] for i in (4, 5, 6)} == {"test"}
