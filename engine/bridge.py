"""The one place where the job system meets the style engine: a claimed job, run.

``engine.jobs`` claims jobs, reads their pictures and records what happens to them, without
torch; ``engine.style`` repaints pictures, without a database. This module is the only one
that imports both: :class:`StyleRunner` is the worker's ``run_job`` (decode the pictures, turn
the job's parameters into the algorithm's, stylize, encode the result), and :func:`main` is
``python -m engine work``.

A new kind of job gets its runner in :meth:`StyleRunner.__call__`, beside ``photo``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image as PILImage

from engine import images
from engine.contract import FailureKind, JobKind, PhotoParams
from engine.env import SettingsError
from engine.jobs import outputs, worker
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
from engine.style import quality, transfer
from engine.style.settings import StyleSettings
from engine.style.vgg import VGG19Features, WeightsError, load_vgg19, resolve_device

logger = logging.getLogger(__name__)

OOM_SHRINK = 0.7  # after running out of GPU memory, try again at this fraction of the size
OOM_FLOOR = 128  # ...but not below this long side: a person would not want it
RESULT_QUALITY = 95  # results are stored as JPEG at this quality


class StyleRunner:
    """The real engine: VGG-19 loaded once, then one :func:`engine.style.transfer.stylize` per
    job."""

    def __init__(self, device: str, *, weights_path: str | Path | None = None) -> None:
        self.device = resolve_device(device)
        self.model: VGG19Features = load_vgg19(self.device, weights_path=weights_path)

    def describe(self) -> str:
        if self.device.type == "cuda":
            return f"{self.device} ({torch.cuda.get_device_name(self.device)})"
        return str(self.device)

    def __call__(self, job: JobInput, progress: Progress) -> JobResult:
        # Each kind of job and what makes it: a new kind gets its row here.
        runners: dict[JobKind, Callable[[JobInput, Progress], JobResult]] = {
            JobKind.PHOTO: self.photo,
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
            picture = self._stylize(content, styles, params, weights, callback)
        except transfer.Cancelled:
            # stylize stops only when the callback said so, and the callback noted why.
            raise Stopped(stop[-1]) from None
        data = images.encode_image(picture, format="JPEG", quality=RESULT_QUALITY)
        return JobResult(data=data, mime="image/jpeg", width=picture.width, height=picture.height)

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


def small_snapshot(p: transfer.Progress) -> Snapshot | None:
    """The worker's :data:`Snapshot` of a step: the style engine's picture of it, copied off
    the device once however many sizes are asked for, shrunk and encoded as a JPEG."""
    if p.snapshot is None:
        return None
    picture = functools.cache(p.snapshot)

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
            runner = StyleRunner(args.device or style.device, weights_path=style.weights_path)
        except (ValueError, RuntimeError, WeightsError) as e:
            raise EngineUnavailable(f"cannot start the engine: {e}") from None
        if runner.device.type == "cpu" and settings.cpu_nice:
            os.nice(settings.cpu_nice)  # the bot, if it shares these cores, answers first
        return runner

    return worker.serve(settings, start, args)
