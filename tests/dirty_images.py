"""Generators for the dirty image files real data sets contain; each writes one case and returns its path."""

import os
import struct
import zlib
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

RED, WHITE = (255, 0, 0), (255, 255, 255)


def _noise(size=(64, 48), seed=0) -> Image.Image:
    # Noise, not flat colour, so encoded files are long enough to cut in half meaningfully.
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def good_jpeg(folder: Path, name="good.jpg", seed=0) -> Path:
    """A plain RGB JPEG."""
    path = Path(folder) / name
    _noise(seed=seed).save(path, quality=90)
    return path


def corrupt_bytes(folder: Path, name="corrupt.jpg") -> Path:
    """Random bytes behind an image extension."""
    path = Path(folder) / name
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    return path


def corrupt_png(folder: Path, name="corrupt.png") -> Path:
    """A PNG whose pixel data was damaged (bad IDAT checksum)."""
    path = Path(folder) / name
    _noise().save(path)
    data = bytearray(path.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 40] = bytes(20)
    path.write_bytes(bytes(data))
    return path


def truncated_jpeg(folder: Path, name="truncated.jpg") -> Path:
    """A JPEG cut in half, as left by an interrupted download."""
    path = good_jpeg(folder, name)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def text_as_jpg(folder: Path, name="notes.jpg") -> Path:
    """A text file with a .jpg extension."""
    path = Path(folder) / name
    path.write_text("<html>404 Not Found</html>\n")
    return path


def empty_file(folder: Path, name="empty.jpg") -> Path:
    """A 0-byte file."""
    path = Path(folder) / name
    path.write_bytes(b"")
    return path


def single_frame_gif(folder: Path, name="still.gif") -> Path:
    """A one-frame GIF (palette mode)."""
    path = Path(folder) / name
    Image.new("RGB", (16, 16), RED).convert("P").save(path)
    return path


def animated(folder: Path, name="animated.gif", frames=3) -> Path:
    """An animated GIF or WebP (by extension) whose first frame is red and later ones are not."""
    path = Path(folder) / name
    colours = [RED] + [(0, 0, 255 - 40 * i) for i in range(frames - 1)]
    images = [Image.new("RGB", (16, 16), c) for c in colours]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0, lossless=True)
    return path


def grayscale_png(folder: Path, name="gray.png") -> Path:
    """An 8-bit grayscale (L) PNG with a horizontal ramp."""
    path = Path(folder) / name
    Image.fromarray(np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))).save(path)
    return path


def palette_with_transparency(folder: Path, name="palette.png") -> Path:
    """A palette PNG: left half transparent (index 0, black underneath), right half red."""
    path = Path(folder) / name
    im = Image.new("P", (16, 8), 0)
    im.putpalette([0, 0, 0, *RED] + [0] * (254 * 3))
    im.paste(1, (8, 0, 16, 8))
    im.save(path, transparency=0)
    return path


def rgba_png(folder: Path, name="rgba.png") -> Path:
    """An RGBA PNG of half-transparent red."""
    path = Path(folder) / name
    Image.new("RGBA", (8, 8), (*RED, 128)).save(path)
    return path


def cmyk_jpeg(folder: Path, name="cmyk.jpg") -> Path:
    """A CMYK JPEG of pure cyan."""
    path = Path(folder) / name
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(path, quality=95)
    return path


def png_16bit(folder: Path, name="deep.png") -> Path:
    """A 16-bit grayscale PNG with levels 0, 1000, 30000, 65535 (one column each)."""
    path = Path(folder) / name
    Image.fromarray(np.tile(np.array([0, 1000, 30000, 65535], dtype=np.uint16), (4, 1))).save(path)
    return path


def bilevel_png(folder: Path, name="bilevel.png") -> Path:
    """A 1-bit PNG, left half black, right half white."""
    path = Path(folder) / name
    im = Image.new("1", (16, 8), 0)
    im.paste(1, (8, 0, 16, 8))
    im.save(path)
    return path


def exif_rotated_jpeg(folder: Path, name="rotated.jpg") -> Path:
    """A 40x20 stored JPEG with a red top-left corner and EXIF orientation 6 (display rotated 90° CW)."""
    path = Path(folder) / name
    im = Image.new("RGB", (40, 20), WHITE)
    im.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(path, exif=exif, quality=95)
    return path


def bomb_png(folder: Path, name="bomb.png", size=(30000, 30000)) -> Path:
    """A tiny PNG whose header claims `size`; never decoded, so the bogus pixel data does not matter."""
    path = Path(folder) / name
    Image.new("1", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    # IHDR is the first chunk: 8-byte signature, 4-byte length, b"IHDR", then width and height.
    data[16:24] = struct.pack(">II", *size)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def hidden_files(folder: Path) -> list[Path]:
    """A macOS .DS_Store and an AppleDouble ._x.jpg resource fork."""
    ds_store, fork = Path(folder) / ".DS_Store", Path(folder) / "._x.jpg"
    ds_store.write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    fork.write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    return [ds_store, fork]


def non_ascii_png(folder: Path, name="café_ñ_日本.png") -> Path:
    """A good PNG with a non-ASCII file name."""
    path = Path(folder) / name
    _noise(seed=2).save(path)
    return path


def nested(folder: Path) -> Path:
    """A good JPEG two folders deep."""
    deep = Path(folder) / "a" / "b"
    deep.mkdir(parents=True, exist_ok=True)
    return good_jpeg(deep, "deep.jpg", seed=3)


# Every case one class folder of a dirty data set should contain: name -> (generator, expected).
# Expected is "kept" or how the reason load_image gives starts.
CASES = {
    "corrupt_bytes": (corrupt_bytes, "not an image: cannot identify image file"),
    "text_as_jpg": (text_as_jpg, "not an image: cannot identify image file"),
    "empty_file": (empty_file, "empty file"),
    "truncated_jpeg": (truncated_jpeg, "truncated image"),
    "bomb_png": (bomb_png, "decompression bomb"),
    "single_frame_gif": (single_frame_gif, "kept"),
    "corrupt_png": (corrupt_png, "corrupt image"),
    "animated_gif": (animated, "kept"),
    "animated_webp": (partial(animated, name="animated.webp"), "kept"),
    "grayscale_png": (grayscale_png, "kept"),
    "palette_with_transparency": (palette_with_transparency, "kept"),
    "rgba_png": (rgba_png, "kept"),
    "cmyk_jpeg": (cmyk_jpeg, "kept"),
    "png_16bit": (png_16bit, "kept"),
    "bilevel_png": (bilevel_png, "kept"),
    "exif_rotated_jpeg": (exif_rotated_jpeg, "kept"),
    "non_ascii_png": (non_ascii_png, "kept"),
    "nested": (nested, "kept"),
}


def make_dirty_dataset(root: Path, classes=("cats", "dogs"), good_per_class=4) -> dict:
    """Build root/<class>/ folders of good JPEGs plus every dirty case in the first class.

    Returns {"kept": n, "rejected": n, "skipped": n}: what loading every listed file should give.
    """
    root = Path(root)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(good_per_class):
            good_jpeg(folder, f"good_{i}.jpg", seed=10 * c + i)
    first = root / classes[0]
    for generate, _ in CASES.values():
        generate(first)
    hidden_files(first)
    (first / "README.txt").write_text("not an image\n")
    rejected = sum(expected != "kept" for _, expected in CASES.values())
    kept = len(classes) * good_per_class + len(CASES) - rejected
    return {"kept": kept, "rejected": rejected, "skipped": 3}


def huge_flat_png(folder: Path, name="huge.png", size=(8000, 8000), mode="L", **save) -> Path:
    """A one-colour PNG: a few KB on disk, size[0]×size[1] pixels decoded (keep it under Pillow's pixel limit)."""
    path = Path(folder) / name
    Image.new(mode, size, 0).save(path, **save)
    return path


def slow_png(folder: Path, name="slow.png") -> Path:
    """A palette PNG with transparency just under Pillow's pixel limit: 14 KB, seconds and 1 GiB to decode."""
    return huge_flat_png(folder, name, (9450, 9450), "P", transparency=0)


def fifo(folder: Path, name="fifo.png") -> Path:
    """A named pipe that no process writes to: opening it for reading waits forever."""
    path = Path(folder) / name
    os.mkfifo(path)
    return path
