"""Reading a clip into frames and writing frames back out as an MP4, with PyAV.

PyAV (the ``av`` package) brings FFmpeg's libraries, libx264 included, as a wheel: no system
ffmpeg and no subprocess. Any container FFmpeg reads is accepted (GIF, MP4, WebM, MOV); what
comes out is always H.264 in MP4 with 4:2:0 colour, the one video every player and Telegram
show, with the source's sound copied through when it has any.

Frames come out of :func:`read_clip` at a constant rate: at each tick of the output clock, the
source frame that starts nearest to it. Frames above the rate limit are dropped evenly, and a
clip whose frames last different times (phones, screen recordings, GIFs) keeps its timing to
within half a tick. Nearest rather than "the one on screen", because GIF's and MP4's rounded
timestamps put a frame a hair after its tick, and the one on screen would then be the frame
before it: a repeated frame, then a dropped one, in a clip that needed neither.
"""

from __future__ import annotations

import itertools
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image

from engine.video.limits import ClipInfo, ClipLimits, ClipRejected, check, output_fps, output_frames

logger = logging.getLogger(__name__)

CRF = 18  # x264's constant quality: visually lossless, the painting's strokes are fine detail
PRESET = "medium"
# Audio that goes into MP4 as it is; anything else is re-encoded to AAC.
COPYABLE_AUDIO = frozenset({"aac", "mp3", "alac", "ac3"})
AUDIO_BITRATE = 128_000
# Frame durations that differ by less than this (relative to the typical one) are rounding,
# not a variable rate: GIF stores delays in hundredths, so 12 fps is 8, 8, 9 hundredths.
RATE_TOLERANCE = 0.2

PathLike = str | os.PathLike[str]


@dataclass
class Clip:
    """A clip's frames at a constant rate, as RGB pictures, with what its container said."""

    frames: list[Image.Image]
    fps: float
    info: ClipInfo

    @property
    def seconds(self) -> float:
        return len(self.frames) / self.fps


def _open(path: PathLike) -> Any:
    """The container, or :class:`ClipRejected` ("corrupt") if FFmpeg cannot read it."""
    try:
        return av.open(os.fspath(path))
    except av.FFmpegError as e:
        logger.info("cannot open %s as a video: %s", path, e)
        raise ClipRejected("corrupt", "the file is damaged or is not a video") from None


def probe(path: PathLike) -> ClipInfo:
    """What the clip at ``path`` holds, read from its packets; only the first frame is decoded,
    for the rotation a phone stores beside the frames (milliseconds).

    Raises :class:`ClipRejected` for a file that is no video ("corrupt"), one without a video
    stream ("no_video", e.g. a voice message) and one whose video has no frames ("no_frames").
    """
    with _open(path) as container:
        if not container.streams.video:
            raise ClipRejected("no_video", "the file has no video in it")
        stream = container.streams.video[0]
        has_audio = bool(container.streams.audio)
        width, height = stream.codec_context.width, stream.codec_context.height
        time_base = stream.time_base
        declared = float(stream.base_rate or 0)
        starts: list[float] = []
        last_duration = 0.0
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue  # the flush packet at the end, or one with no time
                starts.append(float(packet.pts * time_base))
                last_duration = float((packet.duration or 0) * time_base)
        except av.FFmpegError as e:
            logger.info("damaged video in %s: %s", path, e)
            raise ClipRejected("corrupt", "the video is damaged") from None
    if not starts:
        raise ClipRejected("no_frames", "the clip has no frames")
    if _rotation(path) % 180:  # a phone held upright: the frames are stored on their side
        width, height = height, width
    starts.sort()  # packets come in decoding order; B-frames make it differ from display order
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    typical = sorted(gaps)[len(gaps) // 2] if gaps else 0.0
    if last_duration <= 0:
        last_duration = typical or 0.1
    seconds = starts[-1] - starts[0] + last_duration
    variable = bool(gaps) and (max(gaps) - min(gaps)) > RATE_TOLERANCE * typical
    fps = len(starts) / seconds
    if not variable and declared and abs(declared - fps) < 0.01 * fps:
        # The container's own rate (12, or 30000/1001), not one blurred by timestamp rounding.
        fps, seconds = declared, len(starts) / declared
    return ClipInfo(
        frames=len(starts),
        fps=fps,
        seconds=seconds,
        width=width,
        height=height,
        has_audio=has_audio,
        variable_rate=variable,
    )


def _rotation(path: PathLike) -> int:
    """Degrees counterclockwise the player turns the frames by (a phone's display matrix).

    Only a decoded frame carries it in PyAV, so the first frame is decoded; 0 if none decodes.
    """
    with _open(path) as container:
        try:
            for frame in container.decode(container.streams.video[0]):
                return round(frame.rotation or 0) % 360
        except av.FFmpegError:
            return 0
    return 0


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (never up) so that the long side is ``max_side``."""
    factor = min(1.0, max_side / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def read_clip(path: PathLike, *, limits: ClipLimits, max_side: int | None = None) -> Clip:
    """The frames of the clip at ``path``, checked against ``limits``.

    The rate is the clip's own, or ``limits.max_fps`` if that is lower; each output frame is the
    source frame nearest its tick, so frames are dropped (or, for a variable rate, held) evenly
    and the length is kept. Frames are scaled so that their long side is at most ``max_side``
    (default ``limits.max_side``). Raises :class:`ClipRejected`.
    """
    info = probe(path)
    check(info, limits)
    fps = output_fps(info, limits)
    wanted = output_frames(info, limits)
    size = fitted_size(info.width, info.height, max_side or limits.max_side)
    frames: list[Image.Image] = []
    # The last frame converted and its picture: a held frame is converted once. The frame
    # itself is kept (not its id(), which a later frame may reuse once this one is freed).
    last: list[tuple[Any, Image.Image]] = []

    def picture(frame: Any) -> Image.Image:
        if last and last[0][0] is frame:
            return last[0][1]
        image = frame.to_image().convert("RGB")
        if frame.rotation:
            image = image.rotate(frame.rotation, expand=True)
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        last[:] = [(frame, image)]
        return image

    previous: tuple[float, Any] | None = None
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            timed = _timed_frames(container, stream)
            for time, frame in timed:
                # Every tick up to this frame's start takes the nearer of it and the one before.
                while len(frames) < wanted and len(frames) / fps <= time:
                    tick = len(frames) / fps
                    if previous is None or time - tick < tick - previous[0]:
                        frames.append(picture(frame))
                    else:
                        frames.append(picture(previous[1]))
                previous = (time, frame)
                if len(frames) == wanted:
                    break  # every tick has its frame; the rest would be decoded for nothing
        except av.FFmpegError as e:
            logger.info("damaged video in %s: %s", path, e)
            raise ClipRejected("corrupt", "the video is damaged") from None
    if previous is None:
        raise ClipRejected("no_frames", "the clip has no frames that can be decoded")
    while len(frames) < wanted:  # the ticks after the last frame's start show it
        frames.append(picture(previous[1]))
    logger.info(
        "read %s: %d of %d frames at %.3g fps, %dx%d%s",
        path,
        len(frames),
        info.frames,
        fps,
        size[0],
        size[1],
        " (variable rate, resampled)" if info.variable_rate else "",
    )
    return Clip(frames=frames, fps=fps, info=info)


def _timed_frames(container: Any, stream: Any) -> Iterator[tuple[float, Any]]:
    """Decoded frames with their start in seconds from the first frame, in display order."""
    first: float | None = None
    for frame in container.decode(stream):
        if frame.pts is None:
            continue
        time = float(frame.pts * stream.time_base)
        if first is None:
            first = time
        yield time - first, frame


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size a frame is cropped to for H.264's 4:2:0 colour: both sides even, at least 2."""
    return max(2, width - width % 2), max(2, height - height % 2)


def write_clip(
    frames: Sequence[Image.Image],
    path: PathLike,
    *,
    fps: float,
    audio_from: PathLike | None = None,
) -> None:
    """Write ``frames`` to ``path`` as an H.264 MP4 at ``fps``, atomically.

    An odd side loses its last pixel row or column (4:2:0 colour needs even sides). When
    ``audio_from`` is a file with sound, its first audio stream goes along: copied as it is if
    MP4 takes it, otherwise re-encoded to AAC; sound past the video's end is left out.
    """
    if not frames:
        raise ValueError("write_clip needs at least one frame")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    width, height = even_size(*frames[0].size)
    rate = Fraction(fps).limit_denominator(1001)
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=".clip-", suffix=".mp4", dir=target.parent)
    os.close(handle)
    try:
        # +faststart puts the index first, so that a player starts before the whole file is in.
        with av.open(temporary, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = out.add_stream("libx264", rate=rate)
            video.width, video.height = width, height
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(CRF), "preset": PRESET}
            audio = _AudioCopy(audio_from, out, seconds=len(frames) / fps) if audio_from else None
            for picture in frames:
                picture = picture.convert("RGB")
                if picture.size != (width, height):
                    if picture.size != frames[0].size:
                        raise ValueError(
                            f"frames differ in size: {picture.size} and {frames[0].size}"
                        )
                    picture = picture.crop((0, 0, width, height))
                for packet in video.encode(av.VideoFrame.from_image(picture)):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
            if audio is not None:
                audio.write()
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    logger.info("wrote %s: %d frames at %.3g fps, %dx%d", target, len(frames), fps, width, height)


class _AudioCopy:
    """The first audio stream of a file, going into an MP4 being written (see write_clip).

    The sound is a bonus: a track that cannot be read or written is logged and left out
    (or cut short), never a reason to lose the painted video.
    """

    def __init__(self, source: PathLike, out: Any, *, seconds: float) -> None:
        self.seconds = seconds
        self.out = out
        self.source: Any = None
        self.input: Any = None
        self.output: Any = None
        self.copy = False
        try:
            self.source = av.open(os.fspath(source))
            if not self.source.streams.audio:
                self.source.close()
                return
            self.input = self.source.streams.audio[0]
            self.copy = self.input.codec_context.name in COPYABLE_AUDIO
            # Streams are added before the header is written, that is before the first packet.
            if self.copy:
                self.output = out.add_stream_from_template(self.input)
            else:
                self.output = out.add_stream("aac", rate=self.input.codec_context.sample_rate)
                self.output.bit_rate = AUDIO_BITRATE
        except (av.FFmpegError, ValueError) as e:
            logger.warning("the sound of %s is left out: %s", source, e)
            if self.source is not None:
                self.source.close()
            self.input = None

    def write(self) -> None:
        if self.input is None or self.output is None:
            return
        with self.source:
            try:
                if self.copy:
                    self._remux()
                else:
                    self._reencode()
            except (av.FFmpegError, ValueError) as e:
                logger.warning("the sound was cut short: %s", e)

    def _remux(self) -> None:
        start: float | None = None
        for packet in self.source.demux(self.input):
            if packet.size == 0 or packet.pts is None:
                continue
            time = float(packet.pts * self.input.time_base)
            start = time if start is None else start
            if time - start >= self.seconds:
                break
            packet.stream = self.output
            self.out.mux(packet)

    def _reencode(self) -> None:
        start: float | None = None
        for frame in self.source.decode(self.input):
            if frame.pts is not None:
                time = float(frame.pts * self.input.time_base)
                start = time if start is None else start
                if time - start >= self.seconds:
                    break
            frame.pts = None  # the encoder numbers its own samples
            for packet in self.output.encode(frame):
                self.out.mux(packet)
        for packet in self.output.encode(None):
            self.out.mux(packet)
