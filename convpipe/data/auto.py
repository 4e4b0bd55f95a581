"""The data section's "auto" values, resolved from the images themselves (a sample of them).

- data.image_size: square, the median shorter side of the images, bounded to MIN_SIDE..MAX_SIDE
  (the 8×8 digits are upsampled to 16×16; photos are shrunk to 160×160); under a pretrained base,
  PRETRAINED_SIDE, the resolution its ImageNet features were learned at;
- data.color_mode: rgb when any sampled image carries colour (its channels differ), else grayscale;
- data.near_duplicate_distance: TINY_DISTANCE bits for tiny images (typical side ≤ TINY_SIDE, where two
  distinct digits can be 2 bits apart), PHOTO_DISTANCE bits for photos (re-encoded or resized copies).

The split stage resolves the distance, the preprocess stage the size and colour; both record what they chose.
"""

from __future__ import annotations

import statistics

import numpy as np
from PIL import Image

from convpipe.data.images import ImageRejected, load_image

SAMPLE = 200  # images surveyed, spread evenly over the sorted paths (the same ones on every run)
MIN_SIDE = 16  # pixels: tiny images are upsampled to at least this
MAX_SIDE = 160  # pixels: larger images are shrunk to this
# pixels, under a pretrained base: ImageNet's 224, where its features are sharpest. Measured on the ants and bees
# (linear probe on frozen MobileNet v1 features, val/test): 0.89/0.92 at 160, 0.93/0.96 at 224. Xception's own 299
# would cost 1.8× more for a base already at val 0.93 at 224.
PRETRAINED_SIDE = 224
TINY_SIDE = 32  # pixels: images whose typical side is at most this are "tiny"
TINY_DISTANCE = 1  # bits: two distinct 8×8 digits can already be 2 bits apart
PHOTO_DISTANCE = 8  # bits: catches JPEG re-encodes (2 bits), resized copies and 2% crops of photos
COLOUR_LEVELS = 6.0  # mean spread between an image's channels (0-255) above which it carries colour
THUMBNAIL_SIDE = 64  # pixels: the colour check looks at a thumbnail (JPEGs decode at reduced scale)


def sample(paths: list[str], size: int = SAMPLE) -> list[str]:
    """At most `size` of `paths`, spread evenly over their sorted order: deterministic, whatever the input order."""
    ordered = sorted(paths)
    if len(ordered) <= size:
        return ordered
    return [ordered[i * len(ordered) // size] for i in range(size)]


def image_sides(paths: list[str], max_pixels: int) -> list[tuple[int, int]]:
    """(height, width) from each readable image's header; unreadable or oversized files are left out."""
    sides = []
    for path in paths:
        try:
            with Image.open(path) as im:
                if im.width * im.height <= max_pixels:
                    sides.append((im.height, im.width))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue  # the preprocess stage rejects and reports it
    return sides


def typical_side(sides: list[tuple[int, int]]) -> int:
    """The median shorter side of the images (0 when there are none)."""
    return round(statistics.median(min(s) for s in sides)) if sides else 0


def image_size(value: str | list[int], sides: list[tuple[int, int]], pretrained: bool = False) -> list[int]:
    """data.image_size: an explicit [height, width] as given; "auto" PRETRAINED_SIDE square for a `pretrained`
    base, else a square of the typical side, bounded."""
    if value != "auto":
        return list(value)
    side = PRETRAINED_SIDE if pretrained else min(max(typical_side(sides), MIN_SIDE), MAX_SIDE)
    return [side, side]


def carries_colour(path: str, max_pixels: int) -> bool:
    """Whether the image's channels differ (a grey image saved as RGB does not), on a thumbnail."""
    try:
        image, _ = load_image(path, "rgb", max_pixels, THUMBNAIL_SIDE)
    except (ImageRejected, OSError):
        return False
    pixels = np.asarray(image, dtype=np.float32)
    return float((pixels.max(axis=-1) - pixels.min(axis=-1)).mean()) > COLOUR_LEVELS


def color_mode(value: str, paths: list[str], max_pixels: int) -> str:
    """data.color_mode: an explicit mode as given; "auto" rgb when any of `paths` carries colour, else grayscale."""
    if value != "auto":
        return value
    return "rgb" if any(carries_colour(path, max_pixels) for path in paths) else "grayscale"


def near_duplicate_distance(value: str | int, sides: list[tuple[int, int]]) -> int:
    """data.near_duplicate_distance: an explicit distance as given; "auto" tight for tiny images, loose for photos."""
    if value != "auto":
        return value
    return TINY_DISTANCE if typical_side(sides) <= TINY_SIDE else PHOTO_DISTANCE
