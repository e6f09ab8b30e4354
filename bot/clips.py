"""Checking a clip someone sent (an animation, a video, a round video note, or a GIF or MP4
sent as a file), before anything goes into the queue; and its first frame, for the status
message. PyAV (through ``engine.video.clip``), never torch.

Before the download, what Telegram says of it (its size, its length, its pixels) is held to
the limits, so a clip that would be refused costs no download. After it, the container itself
is read (``engine.video.clip.probe``: its packets, and its first frame for the rotation) and
held to the same limits (``engine.video.limits.check``), so that a person hears at once, in
their language, which limit a clip exceeds rather than minutes later from a worker. The clip
is stored as it came: the worker decodes it and scales its frames itself.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import Animation, Document, Video, VideoNote

from engine.images import small_jpeg
from engine.video.clip import probe
from engine.video.limits import (
    ClipInfo,
    ClipLimits,
    ClipRejected,
    check,
    output_fps,
    output_frames,
)

from .uploads import too_big

# Documents taken as clips, by the type Telegram gives (anything else goes the picture's way).
CLIP_DOCUMENT_TYPES = frozenset({"video/mp4", "image/gif"})
ClipAttachment = Animation | Video | VideoNote | Document


@dataclass(frozen=True)
class ClipUpload:
    """A clip ready to store: its bytes as sent, and what its container says of it."""

    data: bytes
    mime: str  # image/gif, or video/... (is_clip tells both from a photo's image/jpeg)
    info: ClipInfo


@dataclass
class ClipRefused(Exception):
    """A clip this bot will not queue: a text key (``clip_<reason>``) and the values for it."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


def is_clip(mime: str) -> bool:
    """Whether a stored picture is a clip (a video job's input) rather than a still picture."""
    return mime == "image/gif" or mime.startswith("video/")


def refused(rejected: ClipRejected, info: ClipInfo | None, limits: ClipLimits) -> ClipRefused:
    """The person's text for a clip the engine's limits refused: which limit, and by how much."""
    values: dict[str, Any] = {}
    if info is not None:
        values = {
            "seconds": info.seconds,
            "max_seconds": limits.max_seconds,
            "frames": output_frames(info, limits),
            "fps": output_fps(info, limits),
            "max_frames": limits.max_frames,
            "width": info.width,
            "height": info.height,
            "max_side": limits.max_input_side,
        }
    return ClipRefused(f"clip_{rejected.reason}", values)


def check_clip_attachment(
    attachment: ClipAttachment, *, max_bytes: int, limits: ClipLimits
) -> None:
    """Refuse, from what Telegram says of it, a clip that is not worth downloading."""
    if (attachment.file_size or 0) > max_bytes:
        raise too_big(attachment.file_size, max_bytes)
    if isinstance(attachment, Document):
        return  # Telegram says nothing of a file's length or pixels
    if isinstance(attachment, VideoNote):
        width = height = attachment.length
    else:
        width, height = attachment.width, attachment.height
    duration = attachment.duration  # seconds, or a timedelta in newer python-telegram-bots
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    # Telegram's own figures, checked as the container's will be once it is downloaded.
    told = ClipInfo(
        frames=1,  # unknown yet: the container's count is checked after the download
        fps=0.0,
        seconds=seconds,
        width=width,
        height=height,
        has_audio=False,
        variable_rate=False,
    )
    try:
        check(told, limits)
    except ClipRejected as e:
        raise refused(e, told, limits) from None


def check_clip(data: bytes, *, limits: ClipLimits) -> ClipUpload:
    """The clip ready to store, or ClipRefused saying which limit it exceeds (or that it is
    no clip at all); reads the container's packets and first frame, in a temporary file."""
    if not data:
        raise ClipRefused("clip_corrupt")
    handle, path = tempfile.mkstemp(prefix="clip-", suffix=".upload")
    info: ClipInfo | None = None
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        info = probe(path)
        check(info, limits)
    except ClipRejected as e:
        raise refused(e, info, limits) from None
    finally:
        os.unlink(path)
    mime = "image/gif" if data[:6] in (b"GIF87a", b"GIF89a") else "video/mp4"
    return ClipUpload(data=data, mime=mime, info=info)


def first_frame(data: bytes, side: int) -> bytes:
    """The clip's first frame as a small JPEG (its long side ``side``): the status message's
    picture while a video job waits. ValueError when no frame can be decoded."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(video=0):
                picture = frame.to_image().convert("RGB")
                if frame.rotation:  # a phone held upright: as the worker turns the frames
                    picture = picture.rotate(frame.rotation, expand=True)
                return small_jpeg(picture, side)[0]
    except (av.FFmpegError, IndexError) as e:
        raise ValueError(f"no frame could be decoded ({e})") from None
    raise ValueError("the clip has no frames")
