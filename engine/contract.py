"""The job contract: what kind of job it is, and the parameters it carries.

Neither torch nor the database nor Telegram: the bot builds a job's parameters here and checks
people's choices against the limits here; the queue stores them (:func:`dump_params`: JSON with
a version) and the worker reads them back (:func:`load_params`); the style engine takes its
quality presets' names and its limits from here too. So each limit and each default is
written once.

A new kind of job (a video, a poster, a time-lapse) is a member of :class:`JobKind`, a frozen
parameters type with its ``KIND`` and ``VERSION``, and its row in :data:`PARAMETERS`; the
bridge (``engine/bridge.py``) then gets a runner for it. docs/ARCHITECTURE.md has the rest.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


class JobKind(enum.StrEnum):
    """What a job makes. Stored in ``jobs.kind``; every kind has a parameters type below."""

    PHOTO = "photo"  # a photo repainted in the style of one or more paintings
    VIDEO = "video"  # an animation or a short video repainted frame by frame, without flicker


class FailureKind(enum.StrEnum):
    """Why a job failed, as ``jobs.error_kind`` holds it. People are told a sentence the bot
    keeps for each kind, in their language (an unknown kind gets a generic one); the error's
    own text (``jobs.error``) is for the logs and the admins."""

    BAD_PICTURE = "bad_picture"  # a picture the engine cannot decode
    MISSING_PICTURE = "missing_picture"  # a picture the job names is no longer stored
    BAD_OPTIONS = "bad_options"  # parameters this engine cannot accept
    OUT_OF_MEMORY = "out_of_memory"  # too large for the GPU even when made smaller
    ENGINE_STOPPED = "engine_stopped"  # its worker died on every attempt
    ENGINE_ERROR = "engine_error"  # anything else: a bug, a broken GPU...
    BAD_CLIP = "bad_clip"  # a clip the engine cannot read, or one over the worker's limits


# The style engine's quality presets (engine/style/quality.py says what each means on a CPU
# and on a GPU) and the limits it accepts. The bot's menus and buttons stay inside them.
PRESET_NAMES = ("fast", "balanced", "high")
DEFAULT_PRESET = "balanced"
DEFAULT_STRENGTH = 1.0  # a person's own strength before any choice, and a job's
MIN_SIZE, MAX_SIZE = 64, 4096  # long side of the result, pixels
# Posters (PhotoParams.poster): painted in tiles on a GPU, up to this long side. Which size a
# worker paints depends on its GPU's memory (about 4096 px on 24 GB, 8192 px on 80 GB;
# POSTER_SIDES), or its POSTER_MAX_SIDE; each worker names its largest in its description in
# the worker registry (poster_tag), and the bot offers posters only while such a worker lives.
MAX_POSTER_SIZE = 8192
DEFAULT_POSTER_SIZE = 4096
POSTER_SIDES = ((80, 8192), (24, 4096))  # (GiB of GPU memory at least, largest poster side)
# The long side pictures people send are kept at (the bot scales larger ones down once, as
# they come in): the engine never works on more than the largest result, so more pixels
# would only cost storage and decoding. Posters enlarge the photo to their size instead
# (engine/style/tiled.enlarged): a photo Telegram sends is never that large anyway.
MAX_PICTURE_SIDE = MAX_SIZE
STRENGTH_RANGE = (0.1, 10.0)  # multiplies the style weight
STYLE_SCALE_RANGE = (0.25, 4.0)  # the painting's size relative to the result
MAX_STEPS = 5000
MAX_SEED = 2**63 - 1

# What a running job shows of itself, whatever its kind (a photo, tomorrow the frame of a
# video being painted): a small preview, replaced as the run goes on, and a bounded series of
# frames for its time-lapse, spread evenly over the run's steps. Both are JPEGs this small.
PREVIEW_SIDE = 384  # long side of the preview the status message shows, pixels
FRAME_SIDE = 320  # long side of a time-lapse frame
MAX_FRAMES = 48  # frames kept per run, at most (the time-lapse adds the photo and the result)


def frame_steps(total: int, frames: int = MAX_FRAMES) -> tuple[int, ...]:
    """The steps (1-based) after which a run of ``total`` steps keeps a time-lapse frame.

    The total is known when the run starts (the schedule's), so the frames are placed once:
    ``frames`` of them (fewer if the run is shorter), evenly spread, the last after the last
    step, so a film plays at an even pace from start to finish.
    """
    count = min(frames, total)
    if count <= 0:
        return ()
    return tuple(-(-k * total // count) for k in range(1, count + 1))  # ceil(k * total / count)


def poster_side(memory_gib: float) -> int | None:
    """The largest poster side a GPU with ``memory_gib`` of memory paints (None: no posters)."""
    return next((side for least, side in POSTER_SIDES if memory_gib >= least), None)


_POSTER_TAG = re.compile(r"posters to (\d+) px")


def poster_tag(side: int) -> str:
    """The words a worker's description carries when it paints posters up to ``side``."""
    return f"posters to {side} px"


def poster_side_of(description: str) -> int | None:
    """The largest poster side a worker's description (``poster_tag``) names, or None."""
    found = _POSTER_TAG.search(description)
    return int(found.group(1)) if found else None


class BadParams(ValueError):
    """Parameters the engine cannot accept; ``str(e)`` says which and why, for a person."""


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadParams(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise BadParams(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadParams(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise BadParams(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True, kw_only=True)
class PhotoParams:
    """A photo repainted in a style: the options a person chose, each default written here."""

    KIND: ClassVar[JobKind] = JobKind.PHOTO
    VERSION: ClassVar[int] = 1  # bump when a field changes meaning; teach _read the old form

    preset: str = DEFAULT_PRESET  # one of PRESET_NAMES
    size: int | None = None  # long side in pixels; None: the preset's
    strength: float = DEFAULT_STRENGTH  # multiplies the style weight
    style_scale: float = 1.0  # the painting's size relative to the result
    keep_colors: bool = False
    seed: int | None = None  # None: a fresh random seed each run
    steps: int | None = None  # total optimiser steps; None: the preset's (tests, benchmarks)
    # A poster: painted in tiles, up to MAX_POSTER_SIZE (size None: DEFAULT_POSTER_SIZE), the
    # photo enlarged to it; delivered as a file.
    poster: bool = False

    def __post_init__(self) -> None:
        if self.preset not in PRESET_NAMES:
            raise BadParams(
                f"unknown quality preset {self.preset!r}: choose one of {', '.join(PRESET_NAMES)}"
            )
        if not isinstance(self.poster, bool):
            raise BadParams(f"poster must be true or false, got {self.poster!r}")
        if self.size is not None:
            _whole("size", self.size, MIN_SIZE, MAX_POSTER_SIZE if self.poster else MAX_SIZE)
        # Stored as floats, whatever number came in (JSON may hand back 1 for 1.0).
        object.__setattr__(self, "strength", _number("strength", self.strength, *STRENGTH_RANGE))
        object.__setattr__(
            self, "style_scale", _number("style scale", self.style_scale, *STYLE_SCALE_RANGE)
        )
        if not isinstance(self.keep_colors, bool):
            raise BadParams(f"keep_colors must be true or false, got {self.keep_colors!r}")
        if self.seed is not None:
            _whole("seed", self.seed, 0, MAX_SEED)
        if self.steps is not None:
            _whole("steps", self.steps, 1, MAX_STEPS)

    @classmethod
    def _read(cls, version: int, fields: Mapping[str, Any]) -> PhotoParams:
        # Version 0 is what jobs held before the contract had versions: a plain dict of the
        # same options, with any of them left out.
        del version  # versions 0 and 1 have the same fields
        return cls(**fields)


# A video job's result, as ``images.mime`` holds it. Telegram shows an MP4 without sound as an
# animation (sendAnimation) and one with sound as a video (sendVideo); the worker knows which
# it wrote (the source's sound is copied through), so the mime tells the bot.
ANIMATION_MIME = "video/mp4"  # H.264, no sound
VIDEO_MIME = "video/mp4; audio=1"  # H.264 and the source's sound
VIDEO_FRAME_QUALITY = 95  # a finished frame is kept as a JPEG this good until the clip is made


@dataclass(frozen=True, kw_only=True)
class VideoParams:
    """An animation or a short video repainted frame by frame (issue #15).

    The options a person chooses are a photo's, with the same defaults and checks: the first
    frame is painted with the preset's photo schedule (``steps`` overrides it), each later one
    starts from its predecessor warped along the optical flow and needs ``later_steps`` (None:
    the style engine's own default). The clip limits (length, frame rate, frames, size) are
    the worker's, by its device (``engine.video.limits.limits_for``), not a person's choice.
    """

    KIND: ClassVar[JobKind] = JobKind.VIDEO
    VERSION: ClassVar[int] = 1

    preset: str = DEFAULT_PRESET
    size: int | None = None
    strength: float = DEFAULT_STRENGTH
    style_scale: float = 1.0
    keep_colors: bool = False
    seed: int | None = None
    steps: int | None = None  # the first frame's total optimiser steps; None: the preset's
    later_steps: int | None = None  # each later frame's; None: the style engine's default

    def __post_init__(self) -> None:
        # A frame is painted as a photo is: the same options, checked by the same code.
        photo = self.photo()
        object.__setattr__(self, "strength", photo.strength)
        object.__setattr__(self, "style_scale", photo.style_scale)
        if self.later_steps is not None:
            _whole("later_steps", self.later_steps, 1, MAX_STEPS)

    def photo(self) -> PhotoParams:
        """The options as a photo's: how each frame is painted (``steps``: the first frame's).
        A clip is never a poster: the photo's fields a clip has not are left at their defaults."""
        mine = {f.name for f in dataclasses.fields(self)}
        fields = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(PhotoParams) if f.name in mine
        }
        return PhotoParams(**fields)

    @classmethod
    def from_photo(cls, params: PhotoParams) -> VideoParams:
        """A person's photo options for a clip (a clip is never a poster: that is left out)."""
        mine = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dataclasses.asdict(params).items() if k in mine})

    @classmethod
    def _read(cls, version: int, fields: Mapping[str, Any]) -> VideoParams:
        del version  # one version so far
        return cls(**fields)


# Every kind's parameters type.
JobParams = PhotoParams | VideoParams

PARAMETERS: dict[JobKind, type[JobParams]] = {
    JobKind.PHOTO: PhotoParams,
    JobKind.VIDEO: VideoParams,
}


def dump_params(params: JobParams) -> dict[str, Any]:
    """The parameters as ``jobs.params`` holds them: their fields and their version."""
    return {"version": params.VERSION, **dataclasses.asdict(params)}


def load_params(kind: JobKind, stored: Mapping[str, Any]) -> JobParams:
    """A job's parameters from its row; BadParams when this code cannot read them."""
    kind_type = PARAMETERS[kind]
    fields = dict(stored)
    version = fields.pop("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise BadParams(f"the job's parameters have a malformed version {version!r}")
    if version > kind_type.VERSION:
        raise BadParams(
            f"the job's parameters are version {version}, newer than this engine reads "
            f"({kind_type.VERSION}): update the engine"
        )
    known = {f.name for f in dataclasses.fields(kind_type)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise BadParams(f"unknown option {unknown[0]!r}")
    return kind_type._read(version, fields)
