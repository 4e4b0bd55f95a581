"""Find, decode and normalise single images with Pillow; no TensorFlow here."""

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from convpipe.core.text import printable_path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
COLOR_MODES = {"grayscale": "L", "rgb": "RGB"}  # data.color_mode → Pillow mode
CHANNELS = {"grayscale": 1, "rgb": 3}  # data.color_mode → channels the model sees

# Modes whose transparency must be flattened onto a background rather than dropped.
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class Skipped:
    """A file that was not used, and why."""

    path: str
    reason: str


class ImageRejected(ValueError):
    """A file that cannot be used as a training image; `.reason` says why."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def color_mode_of(channels: int) -> str:
    """The data.color_mode whose images have `channels` channels."""
    return next(mode for mode, count in CHANNELS.items() if count == channels)


def list_images(root: Path) -> tuple[list[Path], list[Skipped]]:
    """Walk root in sorted order; return image files and the skipped ones with a reason.

    Paths, skipped ones too, are root joined with the path below it, so relative if root is; a skipped one
    shows a byte that is not UTF-8 as \\xNN, so that it can be written into a JSON report.
    """
    root = Path(root)
    images, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in sorted(dirnames):
            # Pruned directories are reported once instead of file by file (think of .git).
            if name.startswith("."):
                skipped.append(Skipped(printable_path(here / name), "hidden directory"))
                dirnames.remove(name)
            elif (here / name).is_symlink():
                # os.walk does not follow them (cycles); say so rather than drop them silently.
                skipped.append(Skipped(printable_path(here / name), "symlinked directory not followed"))
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            suffix = path.suffix.lower()
            if name.startswith("."):
                skipped.append(Skipped(printable_path(path), "hidden file"))
            elif suffix not in IMAGE_EXTENSIONS:
                reason = f"not an image extension: {printable_path(suffix)}" if suffix else "no file extension"
                skipped.append(Skipped(printable_path(path), reason))
            else:
                images.append(path)
    return images, skipped


def load_image(path, color_mode: str, max_pixels: int, max_side: int | None = None) -> tuple[Image.Image, list[str]]:
    """Fully decode one image into mode L or RGB; return it with notes on what was changed.

    The effective pixel limit is min(max_pixels, PIL.Image.MAX_IMAGE_PIXELS), because Pillow
    refuses larger headers itself before we see them. With max_side, a thumbnail whose longer side is at
    most max_side, shrunk before any conversion (a JPEG is even decoded at reduced scale): for figures.
    """
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode {color_mode!r} is not one of {sorted(COLOR_MODES)}")
    if os.path.getsize(path) == 0:
        raise ImageRejected(path, "empty file")
    # A process-wide flag some libraries switch on; with it, truncated files decode as grey.
    # Setting it here is not thread-safe: run decoders in processes, not threads.
    truncated_ok, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                pixels = im.width * im.height
                if pixels > max_pixels:
                    raise ImageRejected(path, f"decompression bomb: {pixels} pixels > limit {max_pixels}")
                notes = []
                frames = getattr(im, "n_frames", 1)
                if frames > 1:
                    notes.append(f"animated: used first of {frames} frames")
                if max_side:
                    im.draft(None, (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
                im.load()
                shrunk = _shrink(im, max_side) if max_side else im
                return _normalise(shrunk, COLOR_MODES[color_mode], notes), notes
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(path, f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise ImageRejected(path, "not an image: cannot identify image file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # An OSError with an errno (missing, unreadable) is the file system's fault, not the image's.
        if isinstance(exc, ImageRejected) or getattr(exc, "errno", None) is not None:
            raise
        reason = "truncated image" if "truncated" in str(exc).lower() else f"corrupt image: {exc}"
        raise ImageRejected(path, reason) from exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok


def _shrink(im: Image.Image, max_side: int) -> Image.Image:
    """`im` shrunk (in place where Pillow can) so that its longer side is at most max_side."""
    if im.mode.startswith("I;16") and max(im.size) > 4 * max_side:
        # Pillow resamples 16-bit images with NEAREST only: pick 4 samples a side per output pixel, then average.
        scale = 4 * max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.NEAREST)
        im = im.convert("I")
    im.thumbnail((max_side, max_side))  # in place, so the full-size pixels are released at once
    return im


def _normalise(im: Image.Image, mode: str, notes: list[str]) -> Image.Image:
    """Return a new image in `mode`, appending a note for each lossy or visible change."""
    orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation in range(2, 9):
        im = ImageOps.exif_transpose(im)
        notes.append(f"exif-rotated: orientation {orientation}")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in _ALPHA_MODES:
        im = im.convert("RGBA")
        if im.getchannel("A").getextrema()[0] < 255:
            notes.append("transparency flattened onto white")
        # Dropping alpha would expose whatever colour hides under transparent pixels (often black).
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    elif im.mode == "CMYK":
        im = _cmyk_to_rgb(im)
        notes.append("converted from CMYK")
    elif im.mode.startswith("I") or im.mode == "F":
        notes.append(f"scaled {im.mode} to 8-bit")
        im = _to_8bit(im)
    return im.convert(mode)


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    # Print-oriented CMYK files usually embed their profile; the naive formula shifts colours.
    icc = im.info.get("icc_profile")
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, profile, _SRGB, outputMode="RGB")
        except ImageCms.PyCMSError:
            pass  # A broken profile is no reason to lose the image; fall back to Pillow's formula.
    return im.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    """Map 16/32-bit integer or float grey to 0..255 by scaling, never by clipping."""
    values = np.asarray(im).astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if im.mode.startswith("I;16") or (im.mode == "I" and low >= 0 and high <= 65535):
        # 16-bit data (also what older Pillow returns as "I" for 16-bit PNGs): keep absolute levels.
        scaled = values / 257.0
    else:
        # No fixed range to rely on (32-bit, float): stretch what is there.
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def resize(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Resize to size=(height, width), like Keras' image_size; return uint8 HxWxC with C=1 or 3."""
    height, width = size
    if width < img.width or height < img.height:
        # Pillow's LANCZOS widens its kernel with the scale factor, so shrinking does not alias
        # (unlike tf.image.resize without antialias); reducing_gap first box-reduces big photos
        # by an integer factor, which is much faster and visually the same.
        out = img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    else:
        # LANCZOS rings around edges when enlarging; BICUBIC is smoother there.
        out = img.resize((width, height), Image.Resampling.BICUBIC)
    array = np.asarray(out, dtype=np.uint8)
    return array[:, :, np.newaxis] if array.ndim == 2 else array


def file_sha256(path) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
