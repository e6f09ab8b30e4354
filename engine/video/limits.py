"""What clip a worker accepts, and the sentence that says why it refuses one.

Pure Python (no PyAV, OpenCV or torch), so that the bot can tell a person why a clip is refused
before it queues anything. A clip is described by a :class:`ClipInfo` (what
:func:`engine.video.clip.probe` reads from the container); :func:`check` holds it against a
:class:`ClipLimits`. Frame rate is never a reason to refuse: frames above ``max_fps`` are
dropped evenly. Length, total frames (after the dropping) and size are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ClipLimits:
    """The largest clip one worker takes on; each figure is a setting with a default below."""

    max_seconds: float  # longer clips are refused
    max_fps: float  # faster clips lose frames evenly down to this rate
    max_frames: int  # frames after the dropping; bounds the work per job
    max_side: int  # frames are scaled so that their long side is at most this, pixels
    # A frame larger than this on either side is refused before decoding: a 8K clip would
    # cost seconds per frame just to decode and scale down.
    max_input_side: int = 4096

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number, got {self.max_seconds}")
        if not (math.isfinite(self.max_fps) and self.max_fps > 0):
            raise ValueError(f"max_fps must be a positive number, got {self.max_fps}")
        if self.max_frames < 1 or self.max_side < 16 or self.max_input_side < self.max_side:
            raise ValueError(
                "max_frames must be at least 1, max_side at least 16 and max_input_side at "
                f"least max_side; got {self.max_frames}, {self.max_side}, {self.max_input_side}"
            )


# A CPU paints a 256 px frame in a few seconds: 120 frames is several minutes of work.
CPU_LIMITS = ClipLimits(max_seconds=10.0, max_fps=12.0, max_frames=120, max_side=256)
GPU_LIMITS = ClipLimits(max_seconds=30.0, max_fps=24.0, max_frames=720, max_side=512)


def limits_for(device: str) -> ClipLimits:
    """The limits of a worker on ``device`` ("cpu", "cuda", "cuda:1", ...)."""
    return GPU_LIMITS if device.startswith("cuda") else CPU_LIMITS


@dataclass(frozen=True)
class ClipInfo:
    """What the container says about a clip's video, before any frame is decoded."""

    frames: int  # frames in the file
    fps: float  # frames per second on average (frames / seconds)
    seconds: float  # from the first frame's start to the last frame's end
    width: int
    height: int
    has_audio: bool
    variable_rate: bool  # frame durations differ (phones, screen recordings, most GIFs)


class ClipRejected(ValueError):
    """A clip this worker does not take; ``str(e)`` is a sentence a person can read.

    ``reason`` is a short word for programs (the bot picks its own text by it): "corrupt",
    "no_video", "no_frames", "too_long", "too_many_frames", "too_large".
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def output_fps(info: ClipInfo, limits: ClipLimits) -> float:
    """The frame rate the clip is painted at: its own, or ``max_fps`` if that is lower."""
    return min(info.fps, limits.max_fps) if info.fps > 0 else limits.max_fps


def output_frames(info: ClipInfo, limits: ClipLimits) -> int:
    """How many frames the clip has at :func:`output_fps`: its length times that rate.

    The same count for a constant-rate clip at its own rate (``frames``), and for one whose
    frames are resampled, so that the length is kept.
    """
    if info.frames <= 1:
        return info.frames
    return max(1, round(info.seconds * output_fps(info, limits)))


def _number(value: float) -> str:
    """12.0 -> "12", 14.23 -> "14.2": figures as a person writes them."""
    return f"{value:.1f}".removesuffix(".0")


def check(info: ClipInfo, limits: ClipLimits) -> None:
    """Raise :class:`ClipRejected` if ``info`` is over ``limits``; return None if it fits."""
    if info.frames < 1:
        raise ClipRejected("no_frames", "the clip has no frames")
    if info.seconds > limits.max_seconds:
        raise ClipRejected(
            "too_long",
            f"the clip is {_number(info.seconds)} s long; the limit is "
            f"{_number(limits.max_seconds)} s",
        )
    if max(info.width, info.height) > limits.max_input_side:
        raise ClipRejected(
            "too_large",
            f"the clip is {info.width} x {info.height} pixels; the limit is "
            f"{limits.max_input_side} pixels on each side",
        )
    frames = output_frames(info, limits)
    if frames > limits.max_frames:
        raise ClipRejected(
            "too_many_frames",
            f"the clip has {frames} frames at {_number(output_fps(info, limits))} frames a "
            f"second; the limit is {limits.max_frames} frames",
        )
