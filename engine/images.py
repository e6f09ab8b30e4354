"""Reading and writing pictures people send: Pillow only, so the bot can validate uploads too.

Everything that comes in leaves :func:`open_image` as an upright 8-bit RGB image, or raises
:class:`ImageError` whose message is one line a person can read.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000  # decompression-bomb guard: a 20 MB upload can still decode to gigabytes
MIN_SIDE = 16  # VGG-19 halves the picture four times before relu5_1
MAX_ASPECT = 20.0  # Telegram's own limit for photos
SMALL_QUALITY = 80  # previews and time-lapse frames: small JPEGs, seen small


class ImageError(ValueError):
    """str(e) is a one-line message a person can read."""


def _describe(source: bytes | str | Path) -> str:
    return "the picture" if isinstance(source, bytes) else str(source)


def open_image(source: bytes | str | Path, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a file or bytes into an upright RGB image, or raise :class:`ImageError`."""
    name = _describe(source)
    if isinstance(source, bytes):
        if not source:
            raise ImageError("the picture is empty (0 bytes)")
        data = source
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{name}: is a directory, not a picture") from None
        except OSError as e:
            raise ImageError(f"{name}: cannot read it ({e.strerror or e})") from None
        if not data:
            raise ImageError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that; we want a clear
            # error for both, with our own limit, before anything large is decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{name}: {width}x{height} is too many pixels (at most "
                    f"{max_pixels / 1e6:.0f} megapixels)"
                )
            image.seek(0)  # an animation's first frame
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: too many pixels to open safely") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a picture Pillow can read (JPEG, PNG, WebP...)") from None
    except (OSError, SyntaxError, ValueError) as e:
        # Truncated or corrupt data: Pillow raises OSError ("image file is truncated") and
        # sometimes SyntaxError / ValueError from the format parsers.
        raise ImageError(f"{name}: the picture is damaged or incomplete ({e})") from None
    return _normalised(image, name)


def _normalised(image: Image.Image, name: str) -> Image.Image:
    """Upright, 8-bit RGB, transparency composited on white, size sanity-checked."""
    image = ImageOps.exif_transpose(image) or image
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name}: {width}x{height} is too small (at least {MIN_SIDE} pixels a side)"
        )
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError(
            f"{name}: {width}x{height} is too long and thin "
            f"(aspect ratio at most {MAX_ASPECT:.0f}:1)"
        )
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit greyscale: scale to 8 bits; Pillow's convert("L") would clip instead.
        image = image.point(lambda v: v / 257).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def encode_image(image: Image.Image, *, format: str = "JPEG", quality: int = 95) -> bytes:
    """The image as JPEG (or PNG) bytes."""
    fmt = format.upper()
    if fmt not in ("JPEG", "PNG"):
        raise ValueError(f"unsupported format {format!r}: use JPEG or PNG")
    buffer = io.BytesIO()
    rgb = image.convert("RGB")
    if fmt == "JPEG":
        rgb.save(buffer, format="JPEG", quality=quality, optimize=True)
    else:
        rgb.save(buffer, format="PNG")
    return buffer.getvalue()


class Small(NamedTuple):
    """A small JPEG of a picture (a preview, a time-lapse frame, a status message's photo)."""

    data: bytes
    width: int
    height: int


def small_jpeg(image: Image.Image, side: int, *, quality: int = SMALL_QUALITY) -> Small:
    """The picture shrunk to at most ``side`` pixels on its long side (never enlarged), as JPEG."""
    factor = min(1.0, side / max(image.size))
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    small = image.convert("RGB")
    if small.size != size:
        # BILINEAR with a reducing gap: a few milliseconds, and at this size as good as LANCZOS.
        small = small.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=quality)
    return Small(buffer.getvalue(), *size)


def small_jpeg_of(data: bytes, side: int, *, quality: int = SMALL_QUALITY) -> Small:
    """The same from a stored picture's bytes (already checked when it came in). A JPEG is
    decoded at a reduced scale straight away (Pillow's draft mode), so a big photo costs a few
    milliseconds, not a full decode."""
    try:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (side, side))  # JPEG only; other formats ignore it
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"the picture is damaged or incomplete ({e})") from None
    return small_jpeg(_normalised(image, "the picture"), side, quality=quality)


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def save_image(image: Image.Image, path: str | Path) -> None:
    """Write JPEG or PNG by extension, atomically: a reader never sees half a file."""
    target = Path(path)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ImageError(f"{target}: the output must end in .jpg, .jpeg or .png")
    data = encode_image(image, format=fmt)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as e:
        raise ImageError(f"{target}: cannot write there ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a result is an ordinary file
        os.replace(tmp_name, target)
    except OSError as e:
        Path(tmp_name).unlink(missing_ok=True)
        raise ImageError(f"{target}: cannot write there ({e.strerror or e})") from None
    logger.debug("saved %s (%d bytes)", target, len(data))
