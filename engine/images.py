"""Reading and writing pictures people send: Pillow only, so the bot can validate uploads too.

Everything that comes in leaves :func:`open_image` as an upright 8-bit RGB image, or raises
:class:`ImageError` whose message is one line a person can read.
"""

from __future__ import annotations

import io
import logging
import math
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

logger = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000  # decompression-bomb guard: a 20 MB upload can still decode to gigabytes
MIN_SIDE = 16  # VGG-19 halves the picture four times before relu5_1
MAX_ASPECT = 20.0  # Telegram's own limit for photos
# The only readers Image.open may try: a file in any other format is "not a picture" before
# any other decoder (Pillow has dozens, some rarely exercised: TIFF, PSD, EPS, ICNS, FITS...)
# sees a byte of it.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")

# Pillow warns past Image.MAX_IMAGE_PIXELS and raises past twice that; a warning is made an
# error for our opening only. warnings.catch_warnings changes process-wide state, so openings
# in threads (the bot checks uploads in worker threads) take turns: it covers reading the
# header alone, never the decoding.
_BOMB_CHECK = threading.Lock()

SMALL_QUALITY = 80  # previews and time-lapse frames: small JPEGs, seen small


class ImageError(ValueError):
    """str(e) is a one-line message a person can read; ``kind`` says what is wrong, for code:
    ``empty``, ``unreadable`` (a path that cannot be read), ``not_image``, ``too_many_pixels``,
    ``damaged`` or ``bad_shape`` (too small, or too long and thin)."""

    def __init__(self, message: str, *, kind: str = "damaged") -> None:
        super().__init__(message)
        self.kind = kind


def _describe(source: bytes | str | Path) -> str:
    return "the picture" if isinstance(source, bytes) else str(source)


def _read(source: bytes | str | Path, name: str) -> bytes:
    if isinstance(source, bytes):
        if not source:
            raise ImageError("the picture is empty (0 bytes)", kind="empty")
        return source
    path = Path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file", kind="unreadable") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not a picture", kind="unreadable") from None
    except OSError as e:
        raise ImageError(f"{name}: cannot read it ({e.strerror or e})", kind="unreadable") from None
    if not data:
        raise ImageError(f"{name}: the file is empty", kind="empty")
    return data


def pixel_limit(max_pixels: int) -> int:
    """The most pixels a picture may have: ours, and never more than Pillow's own guard."""
    return min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)


def probe(data: bytes, *, max_pixels: int = MAX_PIXELS, name: str = "the picture") -> Image.Image:
    """The picture with only its header read (nothing decoded), in one of ACCEPTED_FORMATS
    and within ``max_pixels`` (see :func:`pixel_limit`); else :class:`ImageError`."""
    limit = pixel_limit(max_pixels)
    too_many = f"{name}: too many pixels (at most {limit / 1e6:.0f} megapixels)"
    try:
        with _BOMB_CHECK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(too_many, kind="too_many_pixels") from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name}: not a picture I can read (JPEG, PNG, WebP, GIF or BMP)", kind="not_image"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name}: the picture is damaged or incomplete ({e})") from None
    width, height = image.size
    if width * height > limit:
        image.close()
        raise ImageError(
            f"{name}: {width}x{height} is too many pixels (at most {limit / 1e6:.0f} megapixels)",
            kind="too_many_pixels",
        )
    return image


def open_image(
    source: bytes | str | Path, *, max_pixels: int = MAX_PIXELS, max_side: int | None = None
) -> Image.Image:
    """Decode a file or bytes into an upright RGB image, or raise :class:`ImageError`.

    ``max_side``: the image comes out no longer than that on its long side; a JPEG is then
    decoded at a fraction of its size where it can be (Pillow's ``draft``: 1/2, 1/4 or 1/8,
    never below ``max_side``), so a large photo never costs a full-size decode.
    """
    name = _describe(source)
    image = probe(_read(source, name), max_pixels=max_pixels, name=name)
    try:
        image.seek(0)  # an animation's first frame
        if max_side is not None and isinstance(image, JpegImagePlugin.JpegImageFile):
            scale = max_side / max(image.size)
            if scale < 1:
                width, height = image.size
                image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        # Truncated or corrupt data: Pillow raises OSError ("image file is truncated") and
        # sometimes SyntaxError / ValueError from the format parsers.
        raise ImageError(f"{name}: the picture is damaged or incomplete ({e})") from None
    image = _normalised(image, name)
    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def _normalised(image: Image.Image, name: str) -> Image.Image:
    """Upright, 8-bit RGB, transparency composited on white, size sanity-checked."""
    image = ImageOps.exif_transpose(image) or image
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name}: {width}x{height} is too small (at least {MIN_SIDE} pixels a side)",
            kind="bad_shape",
        )
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageError(
            f"{name}: {width}x{height} is too long and thin "
            f"(aspect ratio at most {MAX_ASPECT:.0f}:1)",
            kind="bad_shape",
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
