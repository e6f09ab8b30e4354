"""A run's time-lapse: the photo, the frames kept while it was painted, and the result, as a
short MP4 that Telegram shows as an animation (H.264, no sound, looping).

PyAV (the ``av`` package) brings FFmpeg's own libraries, libx264 included, as a wheel: no
system ffmpeg and no subprocess. Pillow and PyAV only, so the bot (which makes the film when
someone asks for it) and ``python -m engine stylize --timelapse`` share it; ``av`` is
imported only when a film is made.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import NamedTuple

from PIL import Image

from engine import images
from engine.contract import FRAME_SIDE

logger = logging.getLogger(__name__)

FPS = 12  # 48 frames play in 4 s
HOLD_FIRST = 0.5  # seconds the photo stays before the painting starts
HOLD_LAST = 1.5  # ...and the result at the end, before the animation loops
CRF = 26  # x264's constant quality: small files, and the frames are small anyway
MIME = "video/mp4"


class FilmError(ValueError):
    """A film cannot be made of these pictures; ``str(e)`` says why."""


def film_size(width: int, height: int, side: int = FRAME_SIDE) -> tuple[int, int]:
    """The film's size for a result of ``width`` x ``height``: at most ``side`` on the long
    side, never enlarged, both sides even (H.264's 4:2:0 colour needs them even), at least 16."""
    factor = min(1.0, side / max(width, height))

    def even(n: float) -> int:
        return max(16, round(n) // 2 * 2)

    return even(width * factor), even(height * factor)


def encode(
    photo: Image.Image,
    frames: Sequence[Image.Image],
    result: Image.Image,
    *,
    side: int = FRAME_SIDE,
    fps: int = FPS,
) -> bytes:
    """The film: ``photo`` held a moment, each of ``frames`` once, ``result`` held at the end.

    Every picture is fitted to the result's shape at :func:`film_size` (the frames of a
    coarse level are smaller; they are scaled up like the others).
    """
    import av

    size = film_size(result.width, result.height, side)
    sequence = [
        *[photo] * max(1, round(HOLD_FIRST * fps)),
        *frames,
        *[result] * max(1, round(HOLD_LAST * fps)),
    ]
    buffer = io.BytesIO()
    try:
        # In memory: the index goes at the end (faststart would rewrite a file on disk), which
        # Telegram, which processes an animation on upload, does not mind.
        with av.open(buffer, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"  # what every player (and Telegram) decodes
            # One thread: a film is small, and the bot's cores are shared with everyone.
            stream.codec_context.thread_count = 1
            stream.options = {"crf": str(CRF), "preset": "veryfast", "tune": "animation"}
            last: Image.Image | None = None
            frame: av.VideoFrame | None = None
            for picture in sequence:
                if picture is not last or frame is None:  # held pictures are converted once
                    fitted = picture.convert("RGB").resize(size, Image.Resampling.BILINEAR)
                    frame = av.VideoFrame.from_image(fitted)
                    last = picture
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):  # flush the encoder
                container.mux(packet)
    except av.FFmpegError as e:
        raise FilmError(f"the film could not be encoded ({e})") from None
    return buffer.getvalue()


class Film(NamedTuple):
    data: bytes  # the MP4
    width: int
    height: int
    seconds: float


def film_of(photo: bytes, frames: Sequence[bytes], result: bytes) -> Film:
    """The film of a stored run: its photo, frames and result as their files' bytes."""
    try:
        first = images.open_image(photo)
        painted = [images.open_image(frame) for frame in frames]
        last = images.open_image(result)
    except images.ImageError as e:
        raise FilmError(str(e)) from None
    # The photo and the result are full size; the film needs them no bigger than a frame.
    first.thumbnail((FRAME_SIDE, FRAME_SIDE))
    last.thumbnail((FRAME_SIDE, FRAME_SIDE))
    data = encode(first, painted, last)
    width, height = film_size(last.width, last.height)
    return Film(data, width, height, frame_count(len(painted)) / FPS)


def frame_count(sequence_frames: int, fps: int = FPS) -> int:
    """How many frames a film of ``sequence_frames`` painted frames has (with the holds)."""
    return max(1, round(HOLD_FIRST * fps)) + sequence_frames + max(1, round(HOLD_LAST * fps))
