"""Checking a picture someone sent before it goes into the queue (Pillow only, no torch)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from engine.images import MAX_ASPECT, MIN_SIDE, ImageError, encode_image, open_image

KEPT_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}  # stored as sent; others re-encoded


@dataclass(frozen=True)
class Upload:
    data: bytes
    mime: str
    width: int
    height: int


@dataclass
class UploadRejected(Exception):
    """Why a picture cannot be used: a text key and the values for it."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


def check_upload(data: bytes, *, max_pixels: int) -> Upload:
    """The picture ready to store, or UploadRejected saying what is wrong with it."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt, (width, height) = probe.format, probe.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadRejected("not_image") from None
    if width * height > max_pixels:
        raise UploadRejected(
            "too_many_pixels", {"megapixels": width * height / 1e6, "limit": max_pixels / 1e6}
        )
    try:
        image = open_image(data, max_pixels=max_pixels)
    except ImageError:
        small = min(width, height) < MIN_SIDE
        thin = max(width, height) / max(1, min(width, height)) > MAX_ASPECT
        raise UploadRejected("bad_shape" if small or thin else "damaged") from None
    if fmt in KEPT_FORMATS:
        return Upload(data, KEPT_FORMATS[fmt], image.width, image.height)
    return Upload(encode_image(image), "image/jpeg", image.width, image.height)
