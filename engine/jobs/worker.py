"""The worker loop (``python -m engine work``, started by ``engine.bridge``): take jobs from the
queue and run them, one at a time.

The loop: take back jobs whose worker died (``reclaim_expired``), claim the next job, read its
parameters and pictures from the database, run it, store the result and mark it done. While a
job runs, the progress callback writes progress at most every ``progress_seconds`` and extends
the lease at least every ``heartbeat_seconds``; it answers with a :class:`StopReason` when the
job must stop: its owner cancelled it, the lease was lost, or the worker was asked to shut
down (SIGTERM/SIGINT), in which case the job is handed back to the queue uncounted and the
worker exits with status 0.

A run that can show itself passes its step and a :data:`Snapshot` with each report: the
callback then keeps a small preview at most every ``preview_seconds`` and a time-lapse frame
at the steps ``engine.contract.frame_steps`` names, and writes them with the next progress
write (``engine.jobs.outputs``), the last frames with the result.

The per-job work is a function (:data:`RunJob`): ``engine.bridge.StyleRunner``, the real
engine, in production; tests pass something cheaper. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.contract import (
    FRAME_SIDE,
    PREVIEW_SIDE,
    BadParams,
    FailureKind,
    JobKind,
    JobParams,
    frame_steps,
    load_params,
)
from engine.jobs import blobs, outputs, queue, registry
from engine.jobs.db import SchemaOutOfDate, check_schema, make_engine, make_sessionmaker
from engine.jobs.queue import StopReason
from engine.jobs.settings import EngineSettings

logger = logging.getLogger(__name__)

ERROR_DETAIL_CHARS = 200  # of an unexpected error's text kept in jobs.error (never shown to people)


class Stopped(Exception):
    """The run stopped because its progress callback said so; ``reason`` is what it said."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class BadJob(Exception):
    """A job that would fail however often it is tried: ``str(e)`` says why (for the logs),
    ``kind`` what the person is told."""

    def __init__(self, message: str, kind: FailureKind = FailureKind.ENGINE_ERROR) -> None:
        super().__init__(message)
        self.kind = kind


class EngineUnavailable(Exception):
    """The engine could not start (no GPU, no weights...); ``str(e)`` says why, to an operator."""


@dataclass(frozen=True)
class JobInput:
    """Everything a run needs, read from the database before the run starts."""

    job_id: int
    attempt: int
    kind: JobKind
    params: JobParams
    content: bytes
    styles: tuple[tuple[bytes, float], ...]  # (image bytes, weight)


@dataclass(frozen=True)
class JobResult:
    data: bytes
    mime: str
    width: int
    height: int


# The picture as the run has it now, at most this many pixels on its long side, as a JPEG.
Snapshot = Callable[[int], outputs.Picture]


class Progress(Protocol):
    """What a run reports after each step: the fraction done and the seconds left; for a run
    that can show itself, also its step (1-based) of ``total`` and a :data:`Snapshot`. The
    answer: None to go on, or why to stop (then raise Stopped with it)."""

    def __call__(
        self,
        fraction: float,
        eta: float | None,
        /,
        *,
        step: int = 0,
        total: int = 0,
        snapshot: Snapshot | None = None,
    ) -> StopReason | None: ...


RunJob = Callable[[JobInput, Progress], JobResult]


class Runner(Protocol):
    """What ``serve`` runs jobs with: a RunJob that can say what it runs on."""

    def __call__(self, job: JobInput, progress: Progress, /) -> JobResult: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class _Claimed:
    """The parts of a claimed job the worker needs, copied out of the session."""

    id: int
    attempt: int
    kind: JobKind
    stored_params: dict[str, Any]  # as the row holds them; read when the run starts
    content_sha: str
    styles: tuple[tuple[str, float], ...]


_MAX_STRIDE = 4  # frames are thinned to every 4th planned one at the most


@dataclass
class OutputCosts:
    """What one run's previews and time-lapse frames cost the worker (logged per job)."""

    previews: int = 0  # previews written
    preview_bytes: int = 0
    frames: int = 0  # frames written
    frame_bytes: int = 0
    seconds: float = 0.0  # spent taking and encoding them, inside the run


class _JobWatch:
    """The progress callback for one run: writes progress, keeps the lease, says when to stop,
    and keeps the run's preview and time-lapse frames."""

    def __init__(self, worker: Worker, job_id: int) -> None:
        self.worker = worker
        self.job_id = job_id
        now = time.monotonic()
        self.last_progress = self.last_heartbeat = now
        self.last_preview = float("-inf")  # the first step shows at once
        self.costs = OutputCosts()
        self._total = 0  # the run's steps, as last reported
        self._frame_at: dict[int, int] = {}  # step -> frame position, for that total
        self._preview: tuple[int, int, outputs.Picture] | None = None  # waiting to be written
        self._frames: list[outputs.Frame] = []  # waiting to be written
        self._fresh = True  # nothing of this run written yet
        self._started = now
        self._stride = 1  # every planned frame is taken; 2: every other one, ...
        self._taken = 0  # snapshots taken
        self._preview_due = False  # a new preview was taken and not yet tried to write
        # What the open transaction wrote, counted and cleared once it commits.
        self._written: tuple[tuple[int, int, outputs.Picture] | None, list[outputs.Frame]] | None
        self._written = None

    def _keep(self, now: float, step: int, total: int, snapshot: Snapshot) -> None:
        """Take the preview and the frame this step calls for, if any (written later)."""
        settings = self.worker.settings
        if total != self._total:  # the first report (or a run started over differently)
            self._total = total
            planned = frame_steps(total, settings.timelapse_frames)
            self._frame_at = {at: position for position, at in enumerate(planned, 1)}
        position = self._frame_at.get(step)
        if position is not None and position % self._stride and step != total:
            position = None  # thinned out: the budget is spent (the last frame always stays)
        preview = (
            settings.preview_seconds > 0 and now - self.last_preview >= settings.preview_seconds
        )
        if position is None and not preview:
            return
        started = time.perf_counter()
        if position is not None:
            self._frames.append(outputs.Frame(position, step, snapshot(FRAME_SIDE)))
        if preview:
            self._preview = (step, total, snapshot(PREVIEW_SIDE))
            self._preview_due = True
            self.last_preview = now
        self.costs.seconds += time.perf_counter() - started
        self._taken += 1
        self._thin(step, total)

    def _thin(self, step: int, total: int) -> None:
        """Keep the run's frames within ``output_budget`` of its time: where a snapshot is
        dear next to a step (a fast GPU, a tiny picture), take every second planned frame
        from now on, or every fourth..., still evenly spread, rather than slow the painting.
        Judged on what a snapshot and a step have cost so far, projected over the run. A
        quarter of the frames always stay (12 of 48): fewer would no longer make a film."""
        per_snapshot = self.costs.seconds / self._taken
        per_step = (time.monotonic() - self._started) / step
        budget = self.worker.settings.output_budget * per_step * total
        while (
            per_snapshot * len(self._frame_at) / self._stride > budget
            and self._stride < _MAX_STRIDE
        ):
            self._stride *= 2

    def write_outputs(self, s: Session) -> None:
        """Write what was kept and not yet written, in the caller's transaction (fenced: not
        at all once the job is no longer ours)."""
        if self._preview is None and not self._frames:
            return
        if outputs.record(
            s,
            self.job_id,
            worker_id=self.worker.worker_id,
            preview=self._preview,
            frames=self._frames,
            fresh=self._fresh,
        ):
            self._written = (self._preview, list(self._frames))

    def written(self) -> None:
        """The transaction that wrote the outputs committed."""
        written = self._written
        if written is None:
            return
        preview, frames = written
        if preview is not None:
            self.costs.previews += 1
            self.costs.preview_bytes += len(preview[2].data)
            if self._preview is preview:
                self._preview = None
        self.costs.frames += len(frames)
        self.costs.frame_bytes += sum(len(f.picture.data) for f in frames)
        self._frames = self._frames[len(frames) :]
        self._fresh = False
        self._written = None

    def __call__(
        self,
        fraction: float,
        eta: float | None,
        /,
        *,
        step: int = 0,
        total: int = 0,
        snapshot: Snapshot | None = None,
    ) -> StopReason | None:
        worker, settings = self.worker, self.worker.settings
        if worker.stopping:
            return StopReason.SHUTDOWN
        now = time.monotonic()
        if snapshot is not None and total > 0:
            self._keep(now, step, total, snapshot)
        # A new preview goes out with a progress write at once: the person is watching.
        write_progress = now - self.last_progress >= settings.progress_seconds or self._preview_due
        if not write_progress and now - self.last_heartbeat < settings.heartbeat_seconds:
            return None
        self._preview_due = False  # tried once; should that fail, it waits for the next write
        try:
            with worker.maker.begin() as s:
                if write_progress:
                    reason = queue.report_progress(
                        s,
                        self.job_id,
                        worker_id=worker.worker_id,
                        fraction=fraction,
                        eta_seconds=eta,
                        lease_seconds=settings.lease_seconds,
                    )
                else:
                    reason = queue.heartbeat(
                        s,
                        self.job_id,
                        worker_id=worker.worker_id,
                        lease_seconds=settings.lease_seconds,
                    )
                if reason is None:
                    self.write_outputs(s)
                registry.worker_seen(s, worker.worker_id, current_job_id=self.job_id)
        except OperationalError as e:
            # The database is briefly unreachable: keep optimising. If the outage outlasts
            # the lease, the next write finds the job gone and the run stops then. Frames
            # kept meanwhile wait for the next write.
            logger.warning("job %s: could not write progress (%s)", self.job_id, e)
            self._written = None
            return None
        self.written()
        self.last_heartbeat = now
        if write_progress:
            self.last_progress = now
        return reason


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
        self.last_costs: OutputCosts | None = None  # the last run's previews and frames
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
                    kind=job.kind,
                    stored_params=dict(job.params),
                    content_sha=job.content_sha,
                    styles=tuple((st["sha256"], float(st["weight"])) for st in job.styles),
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
            params = load_params(job.kind, job.stored_params)
        except BadParams as e:
            raise BadJob(f"the job's options are not valid: {e}", FailureKind.BAD_OPTIONS) from None
        try:
            with self.maker() as s:
                content = blobs.get_image(s, job.content_sha)
                styles = tuple((blobs.get_image(s, sha), weight) for sha, weight in job.styles)
        except KeyError:
            raise BadJob(
                "a picture for this job is missing; please send it again",
                FailureKind.MISSING_PICTURE,
            ) from None
        return JobInput(
            job_id=job.id,
            attempt=job.attempt,
            kind=job.kind,
            params=params,
            content=content,
            styles=styles,
        )

    def _handle(self, job: _Claimed) -> None:
        logger.info("job %s: starting (attempt %s)", job.id, job.attempt)
        watch = _JobWatch(self, job.id)
        started = time.monotonic()
        try:
            result = self.run_job(self._inputs(job), watch)
        except Stopped as stopped:
            self._stopped(job.id, stopped.reason)
            return
        except BadJob as e:
            logger.warning("job %s: cannot be done: %s", job.id, e)
            self._fail(job.id, str(e), kind=e.kind, retry=False)
            return
        except Exception as e:  # the worker loop outlives any one job
            logger.exception("job %s: the engine failed", job.id)
            detail = f"{type(e).__name__}: {e}"[:ERROR_DETAIL_CHARS]
            self._fail(
                job.id,
                f"the engine hit an unexpected error ({detail})",
                kind=FailureKind.ENGINE_ERROR,
                retry=True,
            )
            return
        seconds = time.monotonic() - started
        with self.maker.begin() as s:
            sha = blobs.put_image(
                s, result.data, mime=result.mime, width=result.width, height=result.height
            )
            watch.write_outputs(s)  # the last frames, while the job is still running
            recorded = queue.complete(
                s, job.id, worker_id=self.worker_id, result_sha=sha, run_seconds=seconds
            )
            if recorded:
                self.jobs_done += 1
                # The status message shows the result from now on: the preview is done with.
                outputs.drop_preview(s, job.id)
            registry.worker_seen(s, self.worker_id, current_job_id=None, jobs_done=self.jobs_done)
        watch.written()
        self.last_costs = costs = watch.costs
        if not recorded:
            logger.warning("job %s: finished after its lease was lost; result dropped", job.id)
        elif costs.previews or costs.frames:
            logger.info(
                "job %s: %d previews (%d KB) and %d frames (%d KB), %.2f s of %.1f s (%.1f%%)",
                job.id,
                costs.previews,
                costs.preview_bytes // 1024,
                costs.frames,
                costs.frame_bytes // 1024,
                costs.seconds,
                seconds,
                100 * costs.seconds / max(seconds, 1e-9),
            )

    def _fail(self, job_id: int, error: str, *, kind: FailureKind, retry: bool) -> None:
        with self.maker.begin() as s:
            queue.fail(
                s, job_id, worker_id=self.worker_id, error=error, error_kind=kind, retry=retry
            )

    def _stopped(self, job_id: int, reason: StopReason) -> None:
        with self.maker.begin() as s:
            match reason:
                case StopReason.CANCELLED:
                    queue.mark_cancelled(s, job_id, worker_id=self.worker_id)
                case StopReason.SHUTDOWN:
                    queue.release(s, job_id, worker_id=self.worker_id)
                case StopReason.LEASE_LOST:
                    logger.warning("job %s: lease lost; another worker may have it", job_id)
        logger.info("job %s: stopped (%s)", job_id, reason.value)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker loop's own options of ``python -m engine work``."""
    parser.add_argument("--once", action="store_true", help="run at most one job, then exit")
    parser.add_argument("--max-jobs", type=int, metavar="N", help="exit after N jobs")
    parser.add_argument("--id", dest="worker_id", help="worker name (default: HOST-PID)")


def serve(settings: EngineSettings, start: Callable[[], Runner], args: argparse.Namespace) -> int:
    """Run a worker until stopped; the exit status. ``start`` builds the engine (slow: it may
    load a model), called once the database is known to be ready; EngineUnavailable from it
    ends the worker with status 2."""
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
        try:
            run_job = start()
        except EngineUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
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
