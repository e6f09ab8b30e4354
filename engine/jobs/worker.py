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
at the steps ``engine.contract.frame_steps`` names, and the lease's thread writes them with its
next write (``engine.jobs.outputs``, fenced by the claim token like every write), the last
frames with the result.

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
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol, TypeVar

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
from engine.jobs import blobs, clip_frames, metrics, outputs, queue, registry
from engine.jobs.db import SchemaOutOfDate, check_schema, make_engine, make_sessionmaker
from engine.jobs.models import JobState
from engine.jobs.outage import Outage, brief, is_outage
from engine.jobs.queue import StopReason
from engine.jobs.settings import EngineSettings

logger = logging.getLogger(__name__)

ERROR_DETAIL_CHARS = 200  # of an unexpected error's text kept in jobs.error (never shown to people)
STOP_PATIENCE = 10.0  # once asked to stop, a write that meets an outage is tried this long
T = TypeVar("T")


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
    # A video job's frames painted by its earlier attempts (index -> JPEG): not painted again.
    frames: Mapping[int, bytes] = field(default_factory=dict)


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
    that can show itself, also its step (1-based) of ``total`` and a :data:`Snapshot`. A video
    reports each frame it has finished painted (``finished``, kept at once so that the next
    worker need not paint it again), with ``step`` its number of ``total`` frames and
    ``snapshot`` that frame (the preview). The answer: None to go on, or why to stop (then
    raise Stopped with it)."""

    def __call__(
        self,
        fraction: float,
        eta: float | None,
        /,
        *,
        step: int = 0,
        total: int = 0,
        snapshot: Snapshot | None = None,
        finished: clip_frames.Finished | None = None,
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
    token: str  # the claim: every write about the job names it


_MAX_STRIDE = 4  # frames are thinned to every 4th planned one at the most

# A preview (step, total, picture) waiting to be written.
_Shown = tuple[int, int, outputs.Picture]


@dataclass
class OutputCosts:
    """What one run's previews and time-lapse frames cost the worker (logged per job)."""

    previews: int = 0  # previews written
    preview_bytes: int = 0
    frames: int = 0  # frames written
    frame_bytes: int = 0
    seconds: float = 0.0  # spent taking and encoding them, inside the run


@dataclass
class _Outputs:
    """A run's preview, time-lapse frames and painted clip frames taken and not yet written
    (``fresh``: nothing of this run written yet, so the time-lapse frames an earlier attempt
    left go first; its clip frames stay: they are what this run resumes from)."""

    preview: _Shown | None = None
    frames: list[outputs.Frame] = field(default_factory=list)
    fresh: bool = True
    painted: list[clip_frames.Finished] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.preview is None and not self.frames and not self.painted

    def write(self, s: Session, job: _Claimed, worker_id: str) -> bool:
        """Write them in the caller's transaction; False (nothing written) once the job is no
        longer this claim's."""
        if self.empty:
            return True
        if self.painted and not clip_frames.store(
            s, job.id, worker_id=worker_id, token=job.token, frames=self.painted
        ):
            return False
        if self.preview is None and not self.frames:
            return True
        return outputs.record(
            s,
            job.id,
            worker_id=worker_id,
            token=job.token,
            preview=self.preview,
            frames=self.frames,
            fresh=self.fresh,
        )


class _Lease:
    """Keeps a claimed job's lease for the whole run, from a background thread: while the
    pictures are read and decoded, the style features computed, the optimisation steps and
    the result encoded and stored, however long any of them takes.

    It extends the lease at least every ``heartbeat_seconds`` and writes the latest progress
    the run reported at most every ``progress_seconds``, with the preview and the time-lapse
    frames the run's reports took since the last write (in the same transaction, fenced by
    the claim token like the progress: a worker whose claim is gone writes no picture
    either). A new preview makes a write due at once: the person is watching.

    :meth:`report` is the run's progress callback: it never touches the database itself, so a
    slow or absent database never holds up the optimisation (it only takes the snapshots, on
    the run's own thread, as they show the run's picture of this very step); it answers with
    what the last write learnt (LEASE_LOST, CANCELLED) or SHUTDOWN when the worker is stopping.
    A video's painted frame, like a new preview, makes a write due at once: until it is
    written, a worker that dies would leave it to be painted again.
    """

    MIN_SPACING = 0.05  # seconds between two writes, whatever the settings say

    def __init__(self, worker: Worker, job: _Claimed) -> None:
        self.worker = worker
        self.job = job
        self.reason: StopReason | None = None
        self.costs = OutputCosts()
        self._changed = threading.Condition()
        self._latest: tuple[float, float | None] | None = None  # reported, not yet written
        self._pending = _Outputs()  # taken, not yet written (guarded by _changed)
        self._preview_due = False  # a new preview waits: write at once
        self._outputs_closed = False  # the result's transaction writes what is left
        self._writing = threading.Lock()  # held by the thread for each write
        self._done = False
        self._outage = Outage(logger, f"worker {worker.worker_id}, job {job.id}")
        self._thread = threading.Thread(target=self._keep, name=f"lease {job.id}", daemon=True)
        # Taking snapshots: the run thread's own state (report() only).
        now = time.monotonic()
        self._started = now
        self._last_preview = float("-inf")  # the first step shows at once
        self._total = 0  # the run's steps, as last reported
        self._frame_at: dict[int, int] = {}  # step -> frame position, for that total
        self._stride = 1  # every planned frame is taken; 2: every other one, ...
        self._taken = 0  # snapshots taken

    def start(self) -> _Lease:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._done = True
            self._changed.notify()
        self._thread.join(10)

    def report(
        self,
        fraction: float,
        eta: float | None,
        /,
        *,
        step: int = 0,
        total: int = 0,
        snapshot: Snapshot | None = None,
        finished: clip_frames.Finished | None = None,
    ) -> StopReason | None:
        if self.worker.stopping:
            return StopReason.SHUTDOWN
        taken: tuple[_Shown | None, outputs.Frame | None] = (None, None)
        if snapshot is not None and total > 0 and self.reason is None:
            # A video's frames are its film already: its snapshots make previews only.
            taken = self._take(step, total, snapshot, timelapse=self.job.kind is not JobKind.VIDEO)
        preview, frame = taken
        with self._changed:
            self._latest = (fraction, eta)
            if frame is not None:
                self._pending.frames.append(frame)
            if finished is not None:
                self._pending.painted.append(finished)
                self._preview_due = True
            if preview is not None:
                self._pending.preview = preview
                self._preview_due = True
            self._changed.notify()
        return self.reason

    def _take(
        self, step: int, total: int, snapshot: Snapshot, *, timelapse: bool = True
    ) -> tuple[_Shown | None, outputs.Frame | None]:
        """The preview and the frame this step calls for, if any (written by the thread)."""
        settings = self.worker.settings
        now = time.monotonic()
        if total != self._total:  # the first report (or a run started over differently)
            self._total = total
            planned = frame_steps(total, settings.timelapse_frames) if timelapse else ()
            self._frame_at = {at: position for position, at in enumerate(planned, 1)}
        position = self._frame_at.get(step)
        if position is not None and position % self._stride and step != total:
            position = None  # thinned out: the budget is spent (the last frame always stays)
        due = settings.preview_seconds > 0 and now - self._last_preview >= settings.preview_seconds
        if position is None and not due:
            return None, None
        started = time.perf_counter()
        frame = None if position is None else outputs.Frame(position, step, snapshot(FRAME_SIDE))
        preview = None
        if due:
            preview = (step, total, snapshot(PREVIEW_SIDE))
            self._last_preview = now
        self.costs.seconds += time.perf_counter() - started
        self._taken += 1
        self._thin(step, total)
        return preview, frame

    def _thin(self, step: int, total: int) -> None:
        """Keep the run's frames within ``output_budget`` of its time: where a snapshot is
        dear next to a step (a fast GPU, a tiny picture), take every second planned frame
        from now on, or every fourth..., still evenly spread, rather than slow the painting.
        Judged on what a snapshot and a step have cost so far, projected over the run. A
        quarter of the frames always stay (12 of 48): fewer would no longer make a film."""
        if not self._frame_at:
            return  # no time-lapse to thin (a video's previews are spaced by time alone)
        per_snapshot = self.costs.seconds / self._taken
        per_step = (time.monotonic() - self._started) / max(step, 1)
        budget = self.worker.settings.output_budget * per_step * total
        while (
            per_snapshot * len(self._frame_at) / self._stride > budget
            and self._stride < _MAX_STRIDE
        ):
            self._stride *= 2

    def last_outputs(self) -> _Outputs:
        """What is left to write, for the result's transaction; from now on the thread writes
        no picture (only the lease and progress), so none is written twice or out of order."""
        with self._writing, self._changed:
            self._outputs_closed = True
            left, self._pending = self._pending, _Outputs(fresh=self._pending.fresh)
            left.painted = []  # the result's transaction drops a clip's frames: it is made
            self._preview_due = False
        return left

    def unwritten_frames(self) -> list[clip_frames.Finished]:
        """A clip's painted frames not yet written, for the transaction that hands the job
        back (a shutdown): the next worker resumes from them too. The thread writes no
        picture from now on."""
        with self._writing, self._changed:
            self._outputs_closed = True
            painted, self._pending.painted = self._pending.painted, []
        return painted

    def count(self, written: _Outputs) -> None:
        """These outputs were committed."""
        if written.preview is not None:
            self.costs.previews += 1
            self.costs.preview_bytes += len(written.preview[2].data)
        self.costs.frames += len(written.frames)
        self.costs.frame_bytes += sum(len(f.picture.data) for f in written.frames)

    def _due(self, now: float, last_write: float, last_progress: float) -> float:
        """Seconds until the next write is due (0: now)."""
        settings = self.worker.settings
        heartbeat = max(settings.heartbeat_seconds, self.MIN_SPACING)
        due = last_write + heartbeat - now
        if self._latest is not None:
            progress = max(settings.progress_seconds, self.MIN_SPACING)
            if self._preview_due:
                progress = self.MIN_SPACING
            due = min(due, max(last_progress + progress, last_write + self.MIN_SPACING) - now)
        return max(due, 0.0)

    def _keep(self) -> None:
        last_write = last_progress = time.monotonic()
        while True:
            with self._changed:
                while not self._done and (
                    wait := self._due(time.monotonic(), last_write, last_progress)
                ):
                    self._changed.wait(wait)
                if self._done:
                    return
                progress, self._latest = self._latest, None
                self._preview_due = False  # tried once; should that fail, it waits
            try:
                reason = self._write(progress)
            except Exception as e:
                if not is_outage(e):
                    logger.exception("job %s: could not keep its lease", self.job.id)
                with self._changed:
                    if progress is not None and self._latest is None:
                        self._latest = progress  # written next time
                    # Pictures kept meanwhile wait for the next write.
                    self._changed.wait(self._outage.failed(e) if is_outage(e) else 5.0)
                continue
            self._outage.ok()
            last_write = time.monotonic()
            if progress is not None:
                last_progress = last_write
            if reason is not None:
                self.reason = reason
                return  # nothing more to keep: the run stops at its next step

    def _write(self, progress: tuple[float, float | None] | None) -> StopReason | None:
        worker, settings, job = self.worker, self.worker.settings, self.job
        with self._writing:
            with self._changed:
                batch = None
                if not self._outputs_closed:
                    pending = self._pending
                    batch = _Outputs(
                        pending.preview, list(pending.frames), pending.fresh, list(pending.painted)
                    )
            with worker.maker.begin() as s:
                if progress is not None:
                    reason = queue.report_progress(
                        s,
                        job.id,
                        worker_id=worker.worker_id,
                        token=job.token,
                        fraction=progress[0],
                        eta_seconds=progress[1],
                        lease_seconds=settings.lease_seconds,
                    )
                else:
                    reason = queue.heartbeat(
                        s,
                        job.id,
                        worker_id=worker.worker_id,
                        token=job.token,
                        lease_seconds=settings.lease_seconds,
                    )
                written = (
                    batch is not None and reason is None and batch.write(s, job, worker.worker_id)
                )
                registry.worker_seen(s, worker.worker_id, current_job_id=job.id)
            if written and batch is not None and not batch.empty:  # committed: not pending
                with self._changed:
                    pending = self._pending
                    if pending.preview is batch.preview:
                        pending.preview = None
                    pending.frames = pending.frames[len(batch.frames) :]
                    pending.painted = pending.painted[len(batch.painted) :]
                    pending.fresh = False
                self.count(batch)
        return reason


class Worker:
    """Claims jobs and runs them with ``run_job`` until told to stop.

    The database may go away at any moment (a restart, a network cut, a SQLite lock held too
    long): the loop then waits with back-off, says so in one line when the outage starts and
    one when it ends, and carries on; a finished result is kept and written once the
    database is back (``result_retry_seconds``); a stop during an outage ends the worker
    cleanly, its job left to come back to the queue when its lease passes.
    """

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
        self.outage = Outage(logger, f"worker {worker_id}")
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
        if not self._register():
            return 0
        logger.info("worker %s ready on %s", self.worker_id, self.device)
        handled = 0
        try:
            while not self.stopping and (max_jobs is None or handled < max_jobs):
                try:
                    worked = self.run_once()
                except Exception as e:
                    if not is_outage(e):
                        raise
                    self._stop.wait(self.outage.failed(e))
                    continue
                self.outage.ok()
                if worked:
                    handled += 1
                    if once:
                        break
                elif once:
                    break
                else:
                    self._stop.wait(self.settings.poll_seconds)
        finally:
            self._unregister()
            logger.info("worker %s stopped after %d job(s)", self.worker_id, handled)
        return handled

    def _register(self) -> bool:
        """Record this worker, waiting for the database if need be; False if stopped first."""
        while True:
            try:
                with self.maker.begin() as s:
                    registry.register_worker(
                        s,
                        worker_id=self.worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        device=self.device,
                    )
            except Exception as e:
                if not is_outage(e):
                    raise
                if self._stop.wait(self.outage.failed(e)):
                    logger.info("worker %s stopped before the database came back", self.worker_id)
                    return False
                continue
            self.outage.ok()
            return True

    def _unregister(self) -> None:
        try:
            with self.maker.begin() as s:
                registry.worker_stopped(s, self.worker_id)
        except Exception as e:
            if not is_outage(e):
                raise
            # Its entry ages out: /stats counts it gone once it is not seen for a while.
            logger.warning(
                "worker %s: could not record its stop, the database is unreachable (%s)",
                self.worker_id,
                brief(e),
            )

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
                    token=str(job.claim_token),
                )
            )
            if claimed is not None or now - self._last_seen >= self.settings.heartbeat_seconds:
                registry.worker_seen(
                    s, self.worker_id, current_job_id=claimed.id if claimed else None
                )
                self._last_seen = now
        if claimed is None:
            return False
        lease = _Lease(self, claimed).start()
        try:
            self._handle(claimed, lease)
        finally:
            lease.stop()
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
                painted = clip_frames.finished(s, job.id) if job.kind is JobKind.VIDEO else {}
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
            frames=painted,
        )

    def _handle(self, job: _Claimed, lease: _Lease) -> None:
        logger.info("job %s: starting (attempt %s)", job.id, job.attempt)
        started = time.monotonic()
        try:
            inputs = self._patiently(
                lambda: self._inputs(job), what=f"job {job.id}: reading its pictures"
            )
            if inputs.frames:
                logger.info(
                    "job %s: resuming from %d frames painted before", job.id, len(inputs.frames)
                )
            result = self.run_job(inputs, lease.report)
            left = lease.last_outputs()
        except Stopped as stopped:
            painted = lease.unwritten_frames() if stopped.reason is StopReason.SHUTDOWN else []
            self._stopped(job, stopped.reason, painted)
            return
        except BadJob as e:
            logger.warning("job %s: cannot be done: %s", job.id, e)
            self._fail(job, str(e), kind=e.kind, retry=False)
            return
        except _GaveUp:
            return
        except Exception as e:  # the worker loop outlives any one job
            logger.exception("job %s: the engine failed", job.id)
            detail = f"{type(e).__name__}: {e}"[:ERROR_DETAIL_CHARS]
            self._fail(
                job,
                f"the engine hit an unexpected error ({detail})",
                kind=FailureKind.ENGINE_ERROR,
                retry=True,
            )
            return
        seconds = time.monotonic() - started
        metrics.RUN_SECONDS.observe(seconds)
        try:
            recorded = self._patiently(
                lambda: self._record(job, result, seconds, lease, left),
                what=f"job {job.id}: storing its result",
                patience=self.settings.result_retry_seconds,
            )
        except _GaveUp:
            return
        self.last_costs = costs = lease.costs
        if not recorded:
            metrics.WORKER_JOBS.labels("lease_lost").inc()
            logger.warning("job %s: finished after its lease was lost; result dropped", job.id)
            return
        metrics.WORKER_JOBS.labels("done").inc()
        if costs.previews or costs.frames:
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

    def _record(
        self, job: _Claimed, result: JobResult, seconds: float, lease: _Lease, left: _Outputs
    ) -> bool:
        """The result, with the last frames (while the job is still running, so fenced like
        them), in one transaction; False when the claim was lost."""
        with self.maker.begin() as s:
            sha = blobs.put_image(
                s, result.data, mime=result.mime, width=result.width, height=result.height
            )
            wrote = left.write(s, job, self.worker_id)
            recorded = queue.complete(
                s,
                job.id,
                worker_id=self.worker_id,
                token=job.token,
                result_sha=sha,
                run_seconds=seconds,
            )
            if recorded:
                # The status message shows the result from now on: the preview is done with,
                # and so are a clip's painted frames (the clip is made of them).
                outputs.drop_preview(s, job.id)
                clip_frames.drop(s, job.id)
            jobs_done = self.jobs_done + 1 if recorded else self.jobs_done
            registry.worker_seen(s, self.worker_id, current_job_id=None, jobs_done=jobs_done)
        self.jobs_done = jobs_done
        if wrote and recorded and not left.empty:
            lease.count(left)
        return recorded

    def _patiently(self, write: Callable[[], T], *, what: str, patience: float = 60.0) -> T:
        """``write()``, tried again with back-off while the database is unreachable, for up
        to ``patience`` seconds (``STOP_PATIENCE`` once the worker is stopping); _GaveUp
        after that. Errors that are not outages go straight to the caller."""
        began = time.monotonic()
        outage = Outage(logger, f"worker {self.worker_id}, {what}")
        while True:
            try:
                done = write()
            except Exception as e:
                if not is_outage(e):
                    raise
                waited = time.monotonic() - began
                limit = min(patience, STOP_PATIENCE) if self.stopping else patience
                if waited >= limit:
                    logger.warning(
                        "%s: gave up after %.0f s without the database; the job comes back "
                        "to the queue when its lease passes",
                        what,
                        waited,
                    )
                    raise _GaveUp from e
                time.sleep(min(outage.failed(e), max(0.0, limit - waited)))
                continue
            outage.ok()
            return done

    def _fail(self, job: _Claimed, error: str, *, kind: FailureKind, retry: bool) -> None:
        def write() -> JobState | None:
            with self.maker.begin() as s:
                state = queue.fail(
                    s,
                    job.id,
                    worker_id=self.worker_id,
                    token=job.token,
                    error=error,
                    error_kind=kind,
                    retry=retry,
                )
                if state is JobState.FAILED:
                    clip_frames.drop(s, job.id)  # no attempt will resume from them
                return state

        try:
            state = self._patiently(write, what=f"job {job.id}: recording its failure")
        except _GaveUp:
            return
        if state is JobState.QUEUED:
            metrics.WORKER_JOBS.labels("retried").inc()
        elif state is not None:
            metrics.WORKER_JOBS.labels(str(state)).inc()

    def _stopped(
        self, job: _Claimed, reason: StopReason, painted: Sequence[clip_frames.Finished] = ()
    ) -> None:
        """Record why the run stopped; ``painted``: a clip's frames not yet written, kept
        (under the claim, before it is handed back) for the next worker to resume from."""

        def write() -> None:
            with self.maker.begin() as s:
                if painted:
                    clip_frames.store(
                        s, job.id, worker_id=self.worker_id, token=job.token, frames=painted
                    )
                match reason:
                    case StopReason.CANCELLED:
                        if queue.mark_cancelled(
                            s, job.id, worker_id=self.worker_id, token=job.token
                        ):
                            clip_frames.drop(s, job.id)  # no attempt will resume from them
                    case StopReason.SHUTDOWN:
                        queue.release(s, job.id, worker_id=self.worker_id, token=job.token)

        if reason is StopReason.LEASE_LOST:
            logger.warning("job %s: lease lost; another worker may have it", job.id)
        else:
            try:
                self._patiently(write, what=f"job {job.id}: recording that it stopped")
            except _GaveUp:
                return
        outcome = {StopReason.CANCELLED: "cancelled", StopReason.SHUTDOWN: "handed_back"}
        metrics.WORKER_JOBS.labels(outcome.get(reason, "lease_lost")).inc()
        logger.info("job %s: stopped (%s)", job.id, reason.value)


class _GaveUp(Exception):
    """A write waited as long as it may for the database."""


def default_worker_id() -> str:
    """HOST-PID and a random part, new at every start: two containers whose worker is PID 1
    on one host network, or a worker restarted under a recycled PID, never share an id."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker loop's own options of ``python -m engine work``."""
    parser.add_argument("--once", action="store_true", help="run at most one job, then exit")
    parser.add_argument("--max-jobs", type=int, metavar="N", help="exit after N jobs")
    parser.add_argument(
        "--id", dest="worker_id", help="worker name (default: HOST-PID-RANDOM, new every start)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on PORT (default: WORKER_METRICS_PORT, else off)",
    )


def serve(settings: EngineSettings, start: Callable[[], Runner], args: argparse.Namespace) -> int:
    """Run a worker until stopped; the exit status. ``start`` builds the engine (slow: it may
    load a model), called once the database is known to be ready; EngineUnavailable from it
    ends the worker with status 2. A database that cannot be reached at start-up is waited
    for (with back-off, in two log lines), not a crash."""
    engine = make_engine(settings.database_url, timeouts=settings.db_timeouts)
    stop_requested = threading.Event()
    worker: Worker | None = None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: stopping", signal.Signals(signum).name)
        stop_requested.set()
        if worker is not None:
            worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop_metrics = metrics.serve(getattr(args, "metrics_port", None) or settings.metrics_port)

    try:
        waiting = Outage(logger, "worker start-up")
        while True:
            try:
                check_schema(engine)
                break
            except SchemaOutOfDate as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            except Exception as e:
                if not is_outage(e):
                    raise
                if stop_requested.wait(waiting.failed(e)):
                    return 0
        waiting.ok()
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
        stop_metrics()
        engine.dispose()
