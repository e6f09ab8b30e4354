"""Checking a picture someone sent: what Telegram says of it before it is downloaded, and its
bytes after, before anything goes into the queue (Pillow only, no torch).

Before the download: a document whose MIME type is not a picture we read, a file larger than
MAX_UPLOAD_BYTES and a photo with more pixels than MAX_UPLOAD_PIXELS are refused at once,
from what Telegram tells (``mime_type``, ``file_size``, a photo's ``width`` and ``height``),
so that they cost no download. After it: the bytes are read only by the readers of the
formats we accept, decompression bombs (a tiny file claiming billions of pixels) are refused
as too many pixels from their header, before anything is decoded, and the picture is decoded
once (a large JPEG at a fraction of its size), turned upright and RGB, scaled down to the
longest side the engine ever works at (engine.contract.MAX_PICTURE_SIDE) and encoded once
as JPEG: what is stored is what the engine needs, without the sender's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram import Document, PhotoSize

from engine.contract import MAX_PICTURE_SIDE
from engine.images import ImageError, encode_image, open_image, pixel_limit

MB = 1024 * 1024
STORED_QUALITY = 92  # JPEG quality of a stored picture: the engine sees no difference
# The MIME types of documents worth downloading (engine.images.ACCEPTED_FORMATS). No type,
# or the generic one, says nothing: those are downloaded and judged by their bytes.
PICTURE_TYPES = frozenset(
    {"image/jpeg", "image/pjpeg", "image/png", "image/webp", "image/gif", "image/bmp"}
    | {"image/x-ms-bmp"}
)
UNKNOWN_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# What engine.images' reasons are, in the bot's texts.
_KEYS = {
    "empty": "not_image",
    "not_image": "not_image",
    "too_many_pixels": "too_many_pixels",
    "bad_shape": "bad_shape",
}


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


def too_big(size: int | None, limit: int) -> UploadRejected:
    """A file over ``limit`` bytes (``size`` None: we only know it is larger)."""
    if size is None or size <= limit:
        return UploadRejected("too_big_unknown", {"limit_mb": limit / MB})
    return UploadRejected("too_big", {"size_mb": size / MB, "limit_mb": limit / MB})


def check_attachment(attachment: PhotoSize | Document, *, max_bytes: int, max_pixels: int) -> None:
    """Refuse, from what Telegram says of it, a file that is not worth downloading."""
    if isinstance(attachment, Document):
        mime = (attachment.mime_type or "").lower().split(";")[0].strip()
        if mime not in PICTURE_TYPES and mime not in UNKNOWN_TYPES:
            raise UploadRejected("not_image")
    if (attachment.file_size or 0) > max_bytes:
        raise too_big(attachment.file_size, max_bytes)
    pixels = pixel_limit(max_pixels)
    if isinstance(attachment, PhotoSize) and attachment.width * attachment.height > pixels:
        raise UploadRejected("too_many_pixels", {"limit": pixels / 1e6})


def check_upload(data: bytes, *, max_pixels: int, max_side: int = MAX_PICTURE_SIDE) -> Upload:
    """The picture ready to store, or UploadRejected saying what is wrong with it."""
    try:
        image = open_image(data, max_pixels=max_pixels, max_side=max_side)
    except ImageError as e:
        key = _KEYS.get(e.kind, "damaged")
        values = {"limit": pixel_limit(max_pixels) / 1e6} if key == "too_many_pixels" else {}
        raise UploadRejected(key, values) from None
    stored = encode_image(image, quality=STORED_QUALITY)
    return Upload(stored, "image/jpeg", image.width, image.height)
