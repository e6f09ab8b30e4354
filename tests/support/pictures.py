"""Pictures the tests draw for themselves (the suite needs no image files): one set for all.

Bytes, as a person would send them, or PIL images, as the style engine takes them.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw


def encoded(image: Image.Image, format: str = "JPEG", **options: object) -> bytes:
    """The picture as a file's bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def draw_image(
    width: int = 64,
    height: int = 48,
    *,
    color: tuple[int, int, int] = (200, 80, 40),
    format: str = "JPEG",
    stripes: bool = True,
) -> bytes:
    """A flat colour with thin stripes of its opposite (``stripes=False``: flat only)."""
    image = Image.new("RGB", (width, height), color)
    if stripes:
        opposite = (255 - color[0], 255 - color[1], 255 - color[2])
        draw = ImageDraw.Draw(image)
        for x in range(0, width, 8):
            draw.line((x, 0, x, height - 1), fill=opposite)
    return encoded(image, format)


def photo(width: int = 96, height: int = 64) -> bytes:
    """A small 'photo' (JPEG): a sky, a field and a sun."""
    image = Image.new("RGB", (width, height), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(60, 140, 50))
    draw.ellipse(
        (width // 10, height // 10, width // 10 + height // 3, height // 10 + height // 3),
        fill=(250, 220, 60),
    )
    return encoded(image, quality=92)


def painting(
    width: int, height: int, colors: tuple[tuple[int, int, int], ...], *, format: str = "JPEG"
) -> bytes:
    """A painting with some style to borrow: bold diagonal stripes in ``colors``."""
    image = Image.new("RGB", (width, height), colors[0])
    draw = ImageDraw.Draw(image)
    for i, x in enumerate(range(0, width + height, 12)):
        draw.line((x, 0, x - height, height), fill=colors[i % len(colors)], width=5)
    return encoded(image, format, quality=92) if format == "JPEG" else encoded(image, format)


def gradient_png(width: int, height: int, seed: int) -> bytes:
    """A PNG with structure at every scale (gradients and noise), for the real engine."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 255], axis=-1)
    pixels = (pixels + rng.normal(0, 20, pixels.shape)).clip(0, 255).astype(np.uint8)
    return encoded(Image.fromarray(pixels, "RGB"), "PNG")


def photo_like(width: int, height: int, seed: int, *, hue: int = 0) -> Image.Image:
    """A photo-like picture: a smooth colour gradient and a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(x / width * 3.0 + hue),
            128 + 100 * np.cos(y / height * 2.0 + hue),
            128 + 80 * np.sin((x + y) / (width + height) * 4.0),
        ],
        axis=-1,
    )
    base += rng.normal(0, 12, base.shape)
    return Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")


def painting_like(width: int, height: int, seed: int) -> Image.Image:
    """A painting-like texture: bold stripes in two strong colours, and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = (np.sin((x * 0.7 + y * 0.4) / 2.5) > 0).astype(np.float32)
    palette = rng.integers(0, 255, (2, 3)).astype(np.float32)
    pixels = stripes[..., None] * palette[0] + (1 - stripes[..., None]) * palette[1]
    pixels += rng.normal(0, 20, pixels.shape)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` and holds no pixels: a decompression bomb's
    first bytes, which is all a reader needs to see to refuse it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def png_bomb(width: int, height: int) -> bytes:
    """About 100 bytes of PNG that claim ``width`` x ``height`` pixels, with the start of
    their data: zeros that compress a thousand to one, as a decompression bomb's do."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 50_000, 9))
        + _png_chunk(b"IEND", b"")
    )


def png_16_bit_rgb(pixel: tuple[int, int, int], size: int = 32) -> bytes:
    """A 16-bit-per-channel RGB PNG of one colour, written by hand (Pillow cannot save one)."""
    header = struct.pack(">IIBBBBB", size, size, 16, 2, 0, 0, 0)
    row = b"\x00" + struct.pack(">HHH", *pixel) * size  # filter type 0, then the pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(row * size))
        + _png_chunk(b"IEND", b"")
    )
