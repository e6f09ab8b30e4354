"""``python -m engine work``: take jobs from the queue and run them, one at a time.

The loop: take back jobs whose worker died (``reclaim_expired``), claim the next job, read its
pictures from the database, run it, store the result and mark it done. While a job runs, the
progress callback writes progress at most every ``progress_seconds`` and extends the lease at
least every ``heartbeat_seconds``; it stops the job when its owner cancelled it, when the
lease was lost, or when the worker was asked to shut down (SIGTERM/SIGINT), in which case
the job is handed back to the queue uncounted and the worker exits with status 0.

The per-job work is a function (:data:`RunJob`): :class:`StyleTransfer`, the real engine, in
production; tests may pass something cheaper. torch is imported only when the real engine
is built, so the rest of this module is as light as the queue.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.env import SettingsError
from engine.jobs import blobs, queue, registry
from engine.jobs.db import LOG_FORMAT, SchemaOutOfDate, check_schema, make_engine, make_sessionmaker
from engine.jobs.settings import EngineSettings
from engine.style.settings import StyleSettings

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from engine.style.vgg import VGG19Features

logger = logging.getLogger(__name__)

OOM_SHRINK = 0.7  # after running out of GPU memory, try again at this fraction of the size
OOM_FLOOR = 128  # ...but not below this long side: a person would not want it
ERROR_DETAIL_CHARS = 200


class Stopped(Exception):
    """The job was asked to stop (its progress callback returned False)."""


class BadJob(Exception):
    """A job that would fail however often it is tried; ``str(e)`` is a reason to show."""


@dataclass(frozen=True)
class JobInput:
    """Everything a run needs, read from the database before the run starts."""

    job_id: int
    attempt: int
    content: bytes
    styles: tuple[tuple[bytes, float], ...]  # (image bytes, weight)
    params: dict[str, Any]


@dataclass(frozen=True)
class JobResult:
    data: bytes
    mime: str
    width: int
    height: int


Progress = Callable[[float, float | None], bool]  # (fraction, eta seconds) -> go on?
RunJob = Callable[[JobInput, Progress], JobResult]


class StyleTransfer:
    """The real engine: VGG-19 loaded once, then one ``stylize`` per job."""

    def __init__(self, device: str, *, weights_path: str | Path | None = None) -> None:
        from engine.style.vgg import load_vgg19, resolve_device

        self.device = resolve_device(device)
        self.model: VGG19Features = load_vgg19(self.device, weights_path=weights_path)

    def describe(self) -> str:
        if self.device.type == "cuda":
            import torch

            return f"{self.device} ({torch.cuda.get_device_name(self.device)})"
        return str(self.device)

    def __call__(self, job: JobInput, progress: Progress) -> JobResult:
        from engine import images
        from engine.style import quality, transfer

        try:
            content = images.open_image(job.content)
            styles = [images.open_image(data) for data, _ in job.styles]
        except images.ImageError as e:
            raise BadJob(str(e)) from None
        try:
            params = quality.params_from_options(**job.params, device=self.device)
        except (TypeError, ValueError) as e:
            raise BadJob(f"the job's options are not valid: {e}") from None
        weights = [weight for _, weight in job.styles]

        def callback(p: transfer.Progress) -> bool:
            return progress(p.fraction, p.eta)

        picture = self._stylize(content, styles, params, weights, callback)
        data = images.encode_image(picture, format="JPEG", quality=95)
        return JobResult(data=data, mime="image/jpeg", width=picture.width, height=picture.height)

    def _stylize(
        self,
        content: PILImage.Image,
        styles: Sequence[PILImage.Image],
        params: Any,
        weights: Sequence[float],
        callback: Callable[[Any], bool],
    ) -> PILImage.Image:
        import torch

        from engine.style import transfer

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
            except transfer.Cancelled:
                raise Stopped from None
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                smaller = int(size * OOM_SHRINK)
                if smaller < OOM_FLOOR:
                    raise BadJob(
                        f"the GPU ran out of memory even at {size} pixels; "
                        "try a smaller size or a lower quality"
                    ) from None
                logger.warning("out of GPU memory at %d px; trying %d px", size, smaller)
                size = smaller


@dataclass(frozen=True)
class _Claimed:
    """The parts of a claimed job the worker needs, copied out of the session."""

    id: int
    attempt: int
    content_sha: str
    styles: tuple[tuple[str, float], ...]
    params: dict[str, Any]


class _JobWatch:
    """The progress callback for one run: writes progress, keeps the lease, says when to stop."""

    def __init__(self, worker: Worker, job_id: int) -> None:
        self.worker = worker
        self.job_id = job_id
        self.stop_reason: str | None = None  # "shutdown" | "cancelled" | "lease lost"
        now = time.monotonic()
        self.last_progress = self.last_heartbeat = now

    def __call__(self, fraction: float, eta: float | None) -> bool:
        worker, settings = self.worker, self.worker.settings
        if worker.stopping:
            self.stop_reason = "shutdown"
            return False
        now = time.monotonic()
        write_progress = now - self.last_progress >= settings.progress_seconds
        if not write_progress and now - self.last_heartbeat < settings.heartbeat_seconds:
            return True
        try:
            with worker.maker.begin() as s:
                if write_progress:
                    control = queue.report_progress(
                        s,
                        self.job_id,
                        worker_id=worker.worker_id,
                        fraction=fraction,
                        eta_seconds=eta,
                        lease_seconds=settings.lease_seconds,
                    )
                else:
                    alive = queue.heartbeat(
                        s,
                        self.job_id,
                        worker_id=worker.worker_id,
                        lease_seconds=settings.lease_seconds,
                    )
                    control = queue.JobControl(lease_lost=not alive)
                registry.worker_seen(s, worker.worker_id, current_job_id=self.job_id)
        except OperationalError as e:
            # The database is briefly unreachable: keep optimising. If the outage outlasts
            # the lease, the next write finds the job gone and the run stops then.
            logger.warning("job %s: could not write progress (%s)", self.job_id, e)
            return True
        self.last_heartbeat = now
        if write_progress:
            self.last_progress = now
        if control.cancel_requested:
            self.stop_reason = "cancelled"
        elif control.lease_lost:
            self.stop_reason = "lease lost"
        return control.keep_going


class Worker:
    """Claims jobs and runs them with ``run_job`` until told to stop."""

    def __init__(
        self,
        maker: sessionmaker[Session],
        settings: EngineSettings,
        *,
        run_job: RunJob,
        worker_id: str,
        device: str = "cpu",
    ) -> None:
        self.maker = maker
        self.settings = settings
        self.run_job = run_job
        self.worker_id = worker_id
        self.device = device
        self.jobs_done = 0
        self._stop = threading.Event()
        self._last_reclaim = float("-inf")
        self._last_seen = float("-inf")

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Stop after the current step: the running job is handed back to the queue."""
        self._stop.set()

    def run(self, *, once: bool = False, max_jobs: int | None = None) -> int:
        """Work until stopped (or one job / ``max_jobs`` jobs); how many jobs were handled."""
        with self.maker.begin() as s:
            registry.register_worker(
                s,
                worker_id=self.worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                device=self.device,
            )
        logger.info("worker %s ready on %s", self.worker_id, self.device)
        handled = 0
        try:
            while not self.stopping and (max_jobs is None or handled < max_jobs):
                try:
                    worked = self.run_once()
                except OperationalError as e:
                    # The database went away: wait and try again rather than die.
                    logger.error("worker %s: database error (%s); retrying", self.worker_id, e)
                    self._stop.wait(max(self.settings.poll_seconds, 5.0))
                    continue
                if worked:
                    handled += 1
                    if once:
                        break
                elif once:
                    break
                else:
                    self._stop.wait(self.settings.poll_seconds)
        finally:
            with self.maker.begin() as s:
                registry.worker_stopped(s, self.worker_id)
            logger.info("worker %s stopped after %d job(s)", self.worker_id, handled)
        return handled

    def run_once(self) -> bool:
        """Claim one job and run it; False when there was none."""
        now = time.monotonic()
        if now - self._last_reclaim >= self.settings.poll_seconds:
            with self.maker.begin() as s:
                queue.reclaim_expired(s)
            self._last_reclaim = now
        with self.maker.begin() as s:
            job = queue.claim(
                s, worker_id=self.worker_id, lease_seconds=self.settings.lease_seconds
            )
            claimed = (
                None
                if job is None
                else _Claimed(
                    id=job.id,
                    attempt=job.attempts,
                    content_sha=job.content_sha,
                    styles=tuple((st["sha256"], float(st["weight"])) for st in job.styles),
                    params=dict(job.params),
                )
            )
            if claimed is not None or now - self._last_seen >= self.settings.heartbeat_seconds:
                registry.worker_seen(
                    s, self.worker_id, current_job_id=claimed.id if claimed else None
                )
                self._last_seen = now
        if claimed is None:
            return False
        self._handle(claimed)
        return True

    def _inputs(self, job: _Claimed) -> JobInput:
        try:
            with self.maker() as s:
                content = blobs.get_image(s, job.content_sha)
                styles = tuple((blobs.get_image(s, sha), weight) for sha, weight in job.styles)
        except KeyError:
            raise BadJob("a picture for this job is missing; please send it again") from None
        return JobInput(
            job_id=job.id, attempt=job.attempt, content=content, styles=styles, params=job.params
        )

    def _handle(self, job: _Claimed) -> None:
        logger.info("job %s: starting (attempt %s)", job.id, job.attempt)
        watch = _JobWatch(self, job.id)
        started = time.monotonic()
        try:
            result = self.run_job(self._inputs(job), watch)
        except Stopped:
            self._stopped(job.id, watch.stop_reason or "shutdown")
            return
        except BadJob as e:
            logger.warning("job %s: cannot be done: %s", job.id, e)
            self._fail(job.id, str(e), retry=False)
            return
        except Exception as e:  # the worker loop outlives any one job
            logger.exception("job %s: the engine failed", job.id)
            detail = f"{type(e).__name__}: {e}"[:ERROR_DETAIL_CHARS]
            self._fail(job.id, f"the engine hit an unexpected error ({detail})", retry=True)
            return
        seconds = time.monotonic() - started
        with self.maker.begin() as s:
            sha = blobs.put_image(
                s, result.data, mime=result.mime, width=result.width, height=result.height
            )
            recorded = queue.complete(
                s, job.id, worker_id=self.worker_id, result_sha=sha, run_seconds=seconds
            )
            if recorded:
                self.jobs_done += 1
            registry.worker_seen(s, self.worker_id, current_job_id=None, jobs_done=self.jobs_done)
        if not recorded:
            logger.warning("job %s: finished after its lease was lost; result dropped", job.id)

    def _fail(self, job_id: int, error: str, *, retry: bool) -> None:
        with self.maker.begin() as s:
            queue.fail(s, job_id, worker_id=self.worker_id, error=error, retry=retry)

    def _stopped(self, job_id: int, reason: str) -> None:
        with self.maker.begin() as s:
            if reason == "cancelled":
                queue.mark_cancelled(s, job_id, worker_id=self.worker_id)
            elif reason == "shutdown":
                queue.release(s, job_id, worker_id=self.worker_id)
            else:
                logger.warning("job %s: lease lost; another worker may have it", job_id)
        logger.info("job %s: stopped (%s)", job_id, reason)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def main(argv: list[str], *, prog: str, command: str) -> int:
    """``python -m engine work``."""
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
    parser.add_argument("--once", action="store_true", help="run at most one job, then exit")
    parser.add_argument("--max-jobs", type=int, metavar="N", help="exit after N jobs")
    parser.add_argument("--id", dest="worker_id", help="worker name (default: HOST-PID)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)

    try:
        settings = EngineSettings.from_env()
        style = StyleSettings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        check_schema(engine)
    except SchemaOutOfDate as e:
        print(f"error: {e}", file=sys.stderr)
        engine.dispose()
        return 2

    # Signals before the slow model load, so that a stop request during it is a clean exit.
    stop_requested = threading.Event()
    worker: Worker | None = None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: stopping", signal.Signals(signum).name)
        stop_requested.set()
        if worker is not None:
            worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        from engine.style.vgg import WeightsError

        try:
            run_job = StyleTransfer(args.device or style.device, weights_path=style.weights_path)
        except (ValueError, RuntimeError, WeightsError) as e:
            print(f"error: cannot start the engine: {e}", file=sys.stderr)
            return 2
        if run_job.device.type == "cpu" and settings.cpu_nice:
            os.nice(settings.cpu_nice)  # the bot, if it shares these cores, answers first
        worker = Worker(
            make_sessionmaker(engine),
            settings,
            run_job=run_job,
            worker_id=args.worker_id or default_worker_id(),
            device=run_job.describe(),
        )
        if stop_requested.is_set():
            return 0
        worker.run(once=args.once, max_jobs=args.max_jobs)
        return 0
    finally:
        engine.dispose()
