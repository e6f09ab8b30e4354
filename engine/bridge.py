"""The one place where the job system meets the style engine: a claimed job, run.

``engine.jobs`` claims jobs, reads their pictures and records what happens to them, without
torch; ``engine.style`` repaints pictures, without a database. This module is the only one
that imports both: :class:`StyleRunner` is the worker's ``run_job`` (decode the pictures, turn
the job's parameters into the algorithm's, stylize, encode the result), and :func:`main` is
``python -m engine work``.

A new kind of job gets its runner in :meth:`StyleRunner.__call__`, beside ``photo`` and
``video``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image as PILImage

from engine import contract, images
from engine.contract import (
    ANIMATION_MIME,
    VIDEO_FRAME_QUALITY,
    VIDEO_MIME,
    FailureKind,
    JobKind,
    PhotoParams,
    VideoParams,
)
from engine.env import SettingsError
from engine.jobs import clip_frames, outputs, worker
from engine.jobs.db import LOG_FORMAT
from engine.jobs.queue import StopReason
from engine.jobs.settings import EngineSettings
from engine.jobs.worker import (
    BadJob,
    EngineUnavailable,
    JobInput,
    JobResult,
    Progress,
    Snapshot,
    Stopped,
)
from engine.style import quality, tiled, transfer
from engine.style import video as style_video
from engine.style.settings import StyleSettings
from engine.style.vgg import VGG19Features, WeightsError, load_vgg19, resolve_device
from engine.video import clip as video_clip
from engine.video.limits import ClipRejected, limits_for

logger = logging.getLogger(__name__)

OOM_SHRINK = 0.7  # after running out of GPU memory, try again at this fraction of the size
OOM_FLOOR = 128  # ...but not below this long side: a person would not want it
RESULT_QUALITY = 95  # results are stored as JPEG at this quality
DEVICE_COLUMN = 64  # workers.device's length (engine/jobs/models.py)


class StyleRunner:
    """The real engine: VGG-19 loaded once, then one :func:`engine.style.transfer.stylize` per
    job."""

    def __init__(
        self,
        device: str,
        *,
        weights_path: str | Path | None = None,
        max_memory_gib: float | None = None,
        poster_max_side: int | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.model: VGG19Features = load_vgg19(self.device, weights_path=weights_path)
        self.max_memory = int(max_memory_gib * 2**30) if max_memory_gib else None
        self.memory_gib: float | None = None
        if self.device.type == "cuda":
            total = torch.cuda.get_device_properties(self.device).total_memory
            self.memory_gib = total / 2**30
        # The largest poster this worker paints: configured, else what its GPU holds; a CPU
        # worker paints a poster it is given, but offers none unless configured to.
        self.poster_side = poster_max_side or (
            contract.poster_side(self.memory_gib) if self.memory_gib is not None else None
        )

    def describe(self) -> str:
        """The worker registry's ``device``: the bot reads a worker's posters from it. The GPU's
        name is shortened if need be, so that the whole fits the registry's column."""
        tail = []
        if self.device.type == "cuda":
            tail.append(f"{self.memory_gib:.0f} GiB")
        if self.poster_side is not None:
            tail.append(contract.poster_tag(self.poster_side))
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else ""
        if not name and not tail:
            return str(self.device)
        room = DEVICE_COLUMN - len(f"{self.device} (, {', '.join(tail)})")
        details = ([name[: max(room, 0)]] if name else []) + tail
        return f"{self.device} ({', '.join(d for d in details if d)})"

    def __call__(self, job: JobInput, progress: Progress) -> JobResult:
        # Each kind of job and what makes it: a new kind gets its row here.
        runners: dict[JobKind, Callable[[JobInput, Progress], JobResult]] = {
            JobKind.PHOTO: self.photo,
            JobKind.VIDEO: self.video,
        }
        return runners[job.kind](job, progress)

    def photo(self, job: JobInput, progress: Progress) -> JobResult:
        """Repaint the job's photo in its styles."""
        assert isinstance(job.params, PhotoParams)
        try:
            content = images.open_image(job.content)
            styles = [images.open_image(data) for data, _ in job.styles]
        except images.ImageError as e:
            raise BadJob(str(e), FailureKind.BAD_PICTURE) from None
        params = quality.transfer_params(job.params, device=self.device)
        weights = [weight for _, weight in job.styles]
        stop: list[StopReason] = []

        def callback(p: transfer.Progress) -> bool:
            reason = progress(
                p.fraction, p.eta, step=p.step, total=p.total, snapshot=small_snapshot(p)
            )
            if reason is not None:
                stop.append(reason)
            return reason is None

        try:
            if job.params.poster:
                picture = self._poster(content, styles, params, weights, callback)
            else:
                picture = self._stylize(content, styles, params, weights, callback)
        except transfer.Cancelled:
            # stylize stops only when the callback said so, and the callback noted why.
            raise Stopped(stop[-1]) from None
        data = images.encode_image(picture, format="JPEG", quality=RESULT_QUALITY)
        return JobResult(data=data, mime="image/jpeg", width=picture.width, height=picture.height)

    def video(self, job: JobInput, progress: Progress) -> JobResult:
        """Repaint the job's clip frame by frame, keeping each frame as it is finished.

        The clip is read at this worker's limits (``limits_for`` its device); the frames an
        earlier attempt finished (``job.frames``) are handed to the style engine as done, and
        only the rest are painted. Each new frame goes to the worker at once (``finished=``,
        stored under the claim) and becomes the preview; the clip comes out as an MP4, with
        the source's sound when it had any, so the mime says animation or video.
        """
        assert isinstance(job.params, VideoParams)
        try:
            styles = [images.open_image(data) for data, _ in job.styles]
            done = {index: images.open_image(data) for index, data in job.frames.items()}
        except images.ImageError as e:
            raise BadJob(str(e), FailureKind.BAD_PICTURE) from None
        params = quality.transfer_params(job.params.photo(), device=self.device)
        limits = limits_for(self.device.type)
        with tempfile.TemporaryDirectory(prefix="clip-") as folder:
            source = Path(folder) / "source"
            source.write_bytes(job.content)
            try:
                clip = video_clip.read_clip(
                    source, limits=limits, max_side=min(limits.max_side, params.size)
                )
            except ClipRejected as e:
                raise BadJob(str(e), FailureKind.BAD_CLIP) from None
            frames = len(clip.frames)
            params = dataclasses.replace(params, size=min(params.size, max(clip.frames[0].size)))
            done = {index: picture for index, picture in done.items() if index < frames}
            painted = self._paint(job, clip.frames, styles, params, done, progress)
            result = Path(folder) / "painted.mp4"
            video_clip.write_clip(
                painted, result, fps=clip.fps, audio_from=source if clip.info.has_audio else None
            )
            # Sound is copied on a best-effort basis: what was written decides, not the source.
            sound = video_clip.probe(result).has_audio
            data = result.read_bytes()
        width, height = video_clip.even_size(*painted[0].size)
        logger.info(
            "job %s: %d frames (%d painted before), %s",
            job.job_id,
            frames,
            len(done),
            "with sound" if sound else "no sound",
        )
        mime = VIDEO_MIME if sound else ANIMATION_MIME
        return JobResult(data=data, mime=mime, width=width, height=height)

    def _paint(
        self,
        job: JobInput,
        frames: Sequence[PILImage.Image],
        styles: Sequence[PILImage.Image],
        params: transfer.TransferParams,
        done: dict[int, PILImage.Image],
        progress: Progress,
    ) -> list[PILImage.Image]:
        """stylize_video, its progress and finished frames reported to the worker."""
        assert isinstance(job.params, VideoParams)
        stop: list[StopReason] = []
        count = len(frames)
        started = time.monotonic()
        begun = len(done) / count  # about the share of the clip done before this run
        latest = [begun]  # the share done at the last step reported

        def answer(reason: StopReason | None) -> None:
            if reason is not None:
                stop.append(reason)
                raise transfer.Cancelled(reason.value)

        def on_progress(p: style_video.FrameProgress) -> None:
            latest[0] = p.fraction
            answer(
                progress(
                    p.fraction,
                    p.eta,
                    step=p.frame + 1,
                    total=count,
                    snapshot=_shrunk(p.snapshot) if p.snapshot else None,
                )
            )

        def on_frame(index: int, picture: PILImage.Image) -> None:
            data = images.encode_image(picture, format="JPEG", quality=VIDEO_FRAME_QUALITY)
            finished = clip_frames.Finished(index, data, picture.width, picture.height)
            fraction = latest[0]
            spent = time.monotonic() - started
            share = fraction - begun
            eta = spent * (1 - fraction) / share if share > 0 else None
            answer(
                progress(
                    fraction,
                    eta,
                    step=index + 1,
                    total=count,
                    snapshot=_shrunk(lambda: picture),
                    finished=finished,
                )
            )

        try:
            return style_video.stylize_video(
                self.model,
                frames,
                styles,
                params,
                later_steps=job.params.later_steps,
                style_weights=[weight for _, weight in job.styles],
                done=done,
                on_frame=on_frame,
                on_progress=on_progress,
            )
        except transfer.Cancelled:
            raise Stopped(stop[-1]) from None
        except torch.cuda.OutOfMemoryError:
            # Not tried smaller, as a photo is: the frames painted so far are kept at this
            # size, and a clip's frames must all be one size. Trying again would fail alike.
            torch.cuda.empty_cache()
            raise BadJob(
                f"the GPU ran out of memory painting a frame at {params.size} pixels",
                FailureKind.OUT_OF_MEMORY,
            ) from None

    def _stylize(
        self,
        content: PILImage.Image,
        styles: Sequence[PILImage.Image],
        params: transfer.TransferParams,
        weights: Sequence[float],
        callback: Callable[[transfer.Progress], bool],
    ) -> PILImage.Image:
        """stylize, tried smaller each time the GPU runs out of memory."""
        size = min(params.size, max(content.size))
        while True:
            try:
                return transfer.stylize(
                    content,
                    styles,
                    model=self.model,
                    params=dataclasses.replace(params, size=size),
                    style_weights=weights,
                    callback=callback,
                )
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                smaller = int(size * OOM_SHRINK)
                if smaller < OOM_FLOOR:
                    raise BadJob(
                        f"the GPU ran out of memory even at {size} pixels",
                        FailureKind.OUT_OF_MEMORY,
                    ) from None
                logger.warning("out of GPU memory at %d px; trying %d px", size, smaller)
                size = smaller


    def _poster(
        self,
        content: PILImage.Image,
        styles: Sequence[PILImage.Image],
        params: transfer.TransferParams,
        weights: Sequence[float],
        callback: Callable[[transfer.Progress], bool],
    ) -> PILImage.Image:
        """A poster, tiled within this worker's memory budget; in smaller tiles each time the
        GPU runs out of memory all the same (the estimate is an estimate)."""
        if self.poster_side is not None and params.size > self.poster_side:
            logger.info("poster of %d px asked; this worker paints %d px", params.size,
                        self.poster_side)
            params = dataclasses.replace(params, size=self.poster_side)
        budget = self.max_memory
        while True:
            try:
                return tiled.stylize_poster(
                    content,
                    styles,
                    model=self.model,
                    params=params,
                    max_memory=budget,
                    style_weights=weights,
                    callback=callback,
                )
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                budget = int((budget or tiled.free_memory(self.device)) * OOM_SHRINK)
                logger.warning("out of GPU memory in a poster; a budget of %.1f GiB next",
                               budget / 2**30)
            except tiled.BudgetTooSmall as e:
                raise BadJob(str(e), FailureKind.OUT_OF_MEMORY) from None


def small_snapshot(p: transfer.Progress) -> Snapshot | None:
    """The worker's :data:`Snapshot` of a step: the style engine's picture of it, copied off
    the device once however many sizes are asked for, shrunk and encoded as a JPEG."""
    if p.snapshot is None:
        return None
    return _shrunk(p.snapshot)


def _shrunk(snapshot: Callable[[], PILImage.Image]) -> Snapshot:
    """A :data:`Snapshot` of the picture ``snapshot`` gives, taken once however many sizes."""
    picture = functools.cache(snapshot)

    @functools.cache
    def small(side: int) -> outputs.Picture:
        return outputs.Picture(*images.small_jpeg(picture(), side))

    return small


def main(argv: list[str], *, prog: str, command: str) -> int:
    """``python -m engine work``."""
    del command  # one command lives here
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run an engine worker: take style-transfer jobs from the queue "
        "(DATABASE_URL) and run them until stopped (SIGTERM/SIGINT hand the current job back).",
    )
    parser.add_argument(
        "--device",
        help="auto (CUDA when present, else the CPU), cpu, cuda or cuda:N "
        "(default: ENGINE_DEVICE, else auto)",
    )
    worker.add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        settings = EngineSettings.from_env()
        style = StyleSettings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    def start() -> StyleRunner:
        try:
            runner = StyleRunner(
                args.device or style.device,
                weights_path=style.weights_path,
                max_memory_gib=style.max_memory_gib,
                poster_max_side=style.poster_max_side,
            )
        except (ValueError, RuntimeError, WeightsError) as e:
            raise EngineUnavailable(f"cannot start the engine: {e}") from None
        if runner.device.type == "cpu" and settings.cpu_nice:
            os.nice(settings.cpu_nice)  # the bot, if it shares these cores, answers first
        return runner

    return worker.serve(settings, start, args)
