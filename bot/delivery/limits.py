"""What Telegram takes as a photo (https://core.telegram.org/bots/api#sendphoto), and the
largest size it keeps of one: anything bigger also goes as a file, at full quality."""

from __future__ import annotations

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000
PHOTO_MAX_ASPECT = 20
PHOTO_KEPT_SIDE = 1280


def as_photo(size: int, width: int, height: int) -> bool:
    """Whether Telegram will take the picture as a photo."""
    return (
        size <= PHOTO_MAX_BYTES
        and width + height <= PHOTO_MAX_SIDES
        and max(width, height) / max(1, min(width, height)) <= PHOTO_MAX_ASPECT
    )
