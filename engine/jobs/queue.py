"""The job queue: the only channel between the bot and the engine workers.

A job moves ``queued -> running -> done | failed | cancelled``. A worker *claims* a queued job
atomically and holds a *lease* on it, which it extends while it works (``heartbeat``,
``report_progress``). When a worker dies its lease runs out and ``reclaim_expired`` puts the
job back in the queue, until the job has been tried ``max_attempts`` times; then it fails
with a reason a person can read. Finished jobs stay *undelivered* until the bot has answered.

This module is the queue itself; beside it in ``engine.jobs``: the pictures a job reads and
writes (``blobs``), the workers that run jobs (``registry``), the numbers (``stats``) and
housekeeping (``prune``).

Every function takes a session and leaves the transaction to the caller
(``with sessionmaker.begin() as s: ...``), so several calls can commit together; the bot calls
them in a thread (``asyncio.to_thread``). Timestamps are naive UTC; a worker's writes (leases,
when a job started and finished) take the database server's clock (``db.database_now``), so
that machines whose clocks disagree still agree on when a lease has passed; the bot's take its
own. ``now=`` lets tests move time. SQLite and PostgreSQL differ in how a claim is made atomic,
and that difference lives here and nowhere else:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks the next job, skipping jobs other
  workers are claiming at this moment, then an ``UPDATE`` takes it.
- SQLite ignores ``FOR UPDATE``; one conditional ``UPDATE ... WHERE id = (SELECT ...) AND
  state = 'queued' RETURNING`` picks and takes it in one statement, and ``engine.jobs.db`` starts
  every transaction with ``BEGIN IMMEDIATE``, so writers take turns.

Attempts count claims: ``claim`` adds one, ``release`` (a clean shutdown) gives it back, so a
job whose worker died shows one attempt more when it is queued again.

Fencing: each claim draws a fresh random ``claim_token``; every later write about the job
(heartbeat, progress, result, failure, hand-back) names it and changes nothing unless the row
still holds it. A worker whose lease passed is refused even when the job was claimed again by
a worker of the same name (two containers whose worker is PID 1, a reused ``--id``).

Delivery: a finished job waits for the bot (``undelivered``). Its answer goes out in steps,
each recorded the moment Telegram accepts it (``record_step``); a try that fails backs off
(``delivery_failed``: ``deliver_after``) and after the last try the job is *undeliverable*,
with its reason, and never holds up another.
"""

from __future__ import annotations

import enum
import functools
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from engine.contract import FailureKind, JobParams, dump_params
from engine.jobs import clip_frames
from engine.jobs.blobs import MissingPicture, use_pictures
from engine.jobs.db import database_now, dialect_of
from engine.jobs.models import FINISHED_STATES, Job, JobState, User, held_by, utcnow

__all__ = ["MissingPicture", "QueueFull", "StopReason"]

logger = logging.getLogger(__name__)


FAIR_SHARE_WINDOW = timedelta(hours=1)  # recent use that pushes a person's next job back
CLAIM_CANDIDATES = 8  # PostgreSQL: jobs read per round when picking one to lock
CLAIM_ROUNDS = 3  # ...and rounds before giving up while every candidate is being taken


class QueueFull(Exception):
    """A limit refused a new job; ``reason`` says which (the bot words the answer)."""

    REASONS = ("user_queued", "user_hourly", "global")

    def __init__(self, reason: str, *, limit: int) -> None:
        super().__init__(f"queue limit reached: {reason} (limit {limit})")
        self.reason = reason
        self.limit = limit


class StopReason(enum.Enum):
    """Why a running job must stop: what the queue tells its worker (a cancel flag, a lease
    that is gone) or the worker knows itself (a shutdown), and what the worker then does."""

    CANCELLED = "cancelled"  # the owner cancelled: the worker marks it cancelled
    LEASE_LOST = "lease lost"  # no longer this worker's (reclaimed or finished): leave it
    SHUTDOWN = "shutdown"  # the worker is stopping: the job goes back to the queue uncounted


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _clock(s: Session, now: datetime | None) -> datetime:
    """``now`` if a test gives one, else the database's clock (what leases are measured by)."""
    return now if now is not None else database_now(s)


# -- submitting and cancelling --------------------------------------------------------------


def submit(
    s: Session,
    *,
    user_id: int,
    chat_id: int,
    content_sha: str,
    styles: Sequence[tuple[str, float]],
    params: JobParams,
    priority: int = 0,
    max_attempts: int = 3,
    max_queued_per_user: int | None = None,
    max_per_hour_per_user: int | None = None,
    max_queued_total: int | None = None,
    now: datetime | None = None,
    person_locked: bool = False,
) -> Job:
    """Queue a job for ``user_id`` (who must exist); QueueFull if a limit says no.

    The job's kind is its parameters' (``params.KIND``); they are stored with their version.

    ``max_queued_per_user`` counts the person's open jobs (queued or running),
    ``max_per_hour_per_user`` the jobs they submitted in the last hour, and
    ``max_queued_total`` everyone's queued jobs. ``person_locked``: the caller has already
    read the person's row ``FOR UPDATE`` in this transaction. MissingPicture when one of its
    pictures is not stored (any more): a prune at the same moment never leaves a job without
    its pictures (``blobs.use_pictures``).
    """
    if not styles:
        raise ValueError("a job needs at least one style image")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    now = now or utcnow()
    if not person_locked:
        # Lock the person's row so that two uploads at once from the same person cannot both
        # pass the per-person limits (SQLite's BEGIN IMMEDIATE already serialises writers).
        s.execute(select(User.id).where(User.id == user_id).with_for_update())
    limits = (max_queued_per_user, max_per_hour_per_user, max_queued_total)
    if any(limit is not None for limit in limits):
        _check_limits(s, user_id, now, *limits)
    use_pictures(s, [content_sha, *(sha for sha, _ in styles)])
    job = Job(
        user_id=user_id,
        chat_id=chat_id,
        kind=params.KIND,
        state=JobState.QUEUED,
        priority=priority,
        content_sha=content_sha,
        styles=[{"sha256": sha, "weight": float(weight)} for sha, weight in styles],
        params=dump_params(params),
        attempts=0,
        max_attempts=max_attempts,
        progress=0.0,
        cancel_requested=False,
        created_at=now,
    )
    s.add(job)
    s.flush()
    logger.info("job %s queued for user %s", job.id, user_id)
    return job


def _check_limits(
    s: Session,
    user_id: int,
    now: datetime,
    per_user: int | None,
    per_hour: int | None,
    total: int | None,
) -> None:
    """QueueFull if a limit says no; the three counts in one statement (a submission in a
    burst waits on every trip to the database)."""
    mine = Job.user_id == user_id
    open_jobs, recent, waiting = s.execute(
        select(
            func.count().filter(mine, Job.state.in_((JobState.QUEUED, JobState.RUNNING))),
            func.count().filter(mine, Job.created_at > now - timedelta(hours=1)),
            # Not locked: under a burst the global cap may be passed by a few jobs, which is
            # harmless, and locking the whole queue for it would serialise every submission.
            func.count().filter(Job.state == JobState.QUEUED),
        )
        .select_from(Job)
        .where(or_(mine, Job.state == JobState.QUEUED))  # each side has its index: no full scan
    ).one()
    if per_user is not None and open_jobs >= per_user:
        raise QueueFull("user_queued", limit=per_user)
    if per_hour is not None and recent >= per_hour:
        raise QueueFull("user_hourly", limit=per_hour)
    if total is not None and waiting >= total:
        raise QueueFull("global", limit=total)


def cancel(s: Session, job_id: int, *, user_id: int, now: datetime | None = None) -> bool:
    """Cancel someone's own job: a queued one at once, a running one at its next step.

    False when the job is not theirs or is already finished (the owner check is here, since
    anyone can forge a button that names a job).
    """
    now = now or utcnow()
    # Conditional updates, not read-then-write: a worker may claim or finish the job at any
    # moment, and whichever statement matches the job's state at that moment wins.
    taken = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.user_id == user_id, Job.state == JobState.QUEUED)
        .values(state=JobState.CANCELLED, finished_at=now, eta_seconds=None)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        clip_frames.drop(s, job_id)  # a video's frames from a dead attempt: never resumed now
        logger.info("job %s cancelled by its owner while queued", job_id)
        return True
    flagged = s.execute(
        update(Job)
        .where(Job.id == job_id, Job.user_id == user_id, Job.state == JobState.RUNNING)
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    if flagged.rowcount == 1:  # type: ignore[attr-defined]
        logger.info("job %s: its owner asked the worker to stop", job_id)
        return True
    return False


# -- the order of the queue -----------------------------------------------------------------


@functools.cache
def _queue_order() -> tuple[Select[Any], list[ColumnElement[Any]]]:
    """Queued jobs in the order they will run, fairly between people.

    A job's *turn* is its rank among its owner's queued jobs plus the number of their jobs
    that started in the last hour (running or finished since). Someone with five jobs queued
    gets turns 1..5 and, once one has run, 2..5; someone arriving with one job gets turn 1 and
    goes before the first person's second job. Counting recent starts rather than jobs
    running now keeps this fair with a single worker too, where nobody's job is running at
    the moment of a claim. Priority and then age break ties.

    Built once and kept (the bot asks for places several times a second, and building these
    statements costs more than running them); the start of the window is a bound parameter,
    ``_recent(now)`` gives its value.
    """
    queued = (
        select(
            Job.id,
            Job.user_id,
            Job.priority,
            Job.created_at,
            func.row_number()
            .over(
                partition_by=Job.user_id,
                order_by=(Job.priority.desc(), Job.created_at, Job.id),
            )
            .label("rank"),
        )
        .where(Job.state == JobState.QUEUED)
        .subquery("queued")
    )
    # A correlated count per queued job, on the (user_id, started_at) index: it reads only
    # recent rows, and its cost does not hang on the planner guessing the queue's size
    # (a join to a grouped subquery was re-run once per queued row when it guessed wrong).
    recent = aliased(Job, name="recent")
    started = (
        select(func.count())
        .where(
            recent.user_id == queued.c.user_id,
            recent.started_at > bindparam("recent_since", type_=Job.__table__.c.started_at.type),
        )
        .correlate(queued)
        .scalar_subquery()
    )
    turn = queued.c.rank + started
    order: list[ColumnElement[Any]] = [
        turn,
        queued.c.priority.desc(),
        queued.c.created_at,
        queued.c.id,
    ]
    return select(queued.c.id), order


def _recent(now: datetime | None) -> dict[str, datetime]:
    """The parameters of ``_queue_order``'s statements at ``now``."""
    return {"recent_since": (now or utcnow()) - FAIR_SHARE_WINDOW}


@functools.cache
def _places() -> Select[Any]:
    """Every queued job's id and place."""
    base, order = _queue_order()
    return base.add_columns(func.row_number().over(order_by=order).label("place"))


@functools.cache
def _place_of() -> Select[Any]:
    """One job's place (the job id is the ``job_id`` parameter)."""
    ranked = _places().subquery()
    return select(ranked.c.place).where(ranked.c.id == bindparam("job_id"))


def position(s: Session, job_id: int, *, now: datetime | None = None) -> int | None:
    """Where a queued job stands (1 = the next to run); None if it is not queued."""
    found = s.scalar(_place_of(), {**_recent(now), "job_id": job_id})
    return int(found) if found is not None else None


def positions(s: Session, *, now: datetime | None = None) -> dict[int, int]:
    """Every queued job's place (1 = the next to run), in one query."""
    return {int(job_id): int(place) for job_id, place in s.execute(_places(), _recent(now))}


# -- the worker's side ----------------------------------------------------------------------


def claim(
    s: Session, *, worker_id: str, lease_seconds: float, now: datetime | None = None
) -> Job | None:
    """Take the next job in fair order for ``worker_id``, or None when the queue is empty.

    The job comes with a new ``claim_token``: every later write about it must name it."""
    now = _clock(s, now)
    base, order = _queue_order()
    take = (
        update(Job)
        .values(
            state=JobState.RUNNING,
            worker_id=worker_id,
            claim_token=uuid.uuid4().hex,
            attempts=Job.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            started_at=now,
            progress=0.0,
            eta_seconds=None,
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    job: Job | None = None
    if dialect_of(s) == "postgresql":
        # Two steps, because FOR UPDATE is not allowed beside window functions: read the
        # first few jobs in fair order, then lock the first one that no other worker holds.
        # SKIP LOCKED passes over a job another worker is taking at this moment instead of
        # waiting for it; "state = 'queued'" drops one that another worker took and
        # committed since our read.
        for _ in range(CLAIM_ROUNDS):
            candidates = s.scalars(
                base.order_by(*order).limit(CLAIM_CANDIDATES), _recent(now)
            ).all()
            if not candidates:
                return None
            for candidate in candidates:
                locked = s.scalar(
                    select(Job.id)
                    .where(Job.id == candidate, Job.state == JobState.QUEUED)
                    .with_for_update(skip_locked=True)
                )
                if locked is not None:
                    job = s.scalars(take.where(Job.id == locked)).one()
                    break
            if job is not None:
                break
    else:
        # One statement picks and takes; "AND state = 'queued'" makes it a no-op rather
        # than a double claim should the subquery ever see a job another writer just took.
        pick_id = base.order_by(*order).limit(1).scalar_subquery()
        job = s.scalars(
            take.where(Job.id == pick_id, Job.state == JobState.QUEUED), _recent(now)
        ).one_or_none()
    if job is not None:
        logger.info("job %s claimed by %s (attempt %s)", job.id, worker_id, job.attempts)
    return job


def heartbeat(
    s: Session,
    job_id: int,
    *,
    worker_id: str,
    token: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> StopReason | None:
    """Extend the lease; StopReason.LEASE_LOST when the job is no longer this claim's."""
    now = _clock(s, now)
    result = s.execute(
        update(Job)
        .where(*held_by(job_id, worker_id, token))
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    held = result.rowcount == 1  # type: ignore[attr-defined]
    return None if held else StopReason.LEASE_LOST


def report_progress(
    s: Session,
    job_id: int,
    *,
    worker_id: str,
    token: str,
    fraction: float,
    eta_seconds: float | None,
    lease_seconds: float,
    now: datetime | None = None,
) -> StopReason | None:
    """Record progress and extend the lease; a StopReason when the job must stop."""
    now = _clock(s, now)
    cancel_requested = s.scalar(
        update(Job)
        .where(*held_by(job_id, worker_id, token))
        .values(
            progress=min(max(fraction, 0.0), 1.0),
            eta_seconds=eta_seconds,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
        )
        .returning(Job.cancel_requested)
        .execution_options(synchronize_session=False)
    )
    if cancel_requested is None:
        return StopReason.LEASE_LOST
    return StopReason.CANCELLED if cancel_requested else None


def complete(
    s: Session,
    job_id: int,
    *,
    worker_id: str,
    token: str,
    result_sha: str,
    run_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Record the result; False (and nothing changes) when the job is no longer ours."""
    now = _clock(s, now)
    result = s.execute(
        update(Job)
        .where(*held_by(job_id, worker_id, token))
        .values(
            # A cancel that arrived after the last step still wins: the person said no.
            state=case((Job.cancel_requested, JobState.CANCELLED), else_=JobState.DONE),
            result_sha=result_sha,
            run_seconds=run_seconds,
            progress=1.0,
            eta_seconds=None,
            error=None,
            error_kind=None,
            lease_expires_at=None,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    done = bool(result.rowcount == 1)  # type: ignore[attr-defined]
    if done:
        logger.info("job %s finished by %s in %.1f s", job_id, worker_id, run_seconds)
    return done


def _held(s: Session, job_id: int, worker_id: str, token: str) -> Job | None:
    """The job, locked, if this claim still holds it."""
    return s.scalars(
        select(Job)
        .where(*held_by(job_id, worker_id, token))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def _requeue(job: Job) -> None:
    job.state = JobState.QUEUED
    job.worker_id = None
    job.claim_token = None
    job.lease_expires_at = None
    job.heartbeat_at = None
    job.started_at = None
    job.progress = 0.0
    job.eta_seconds = None


def _finish(
    job: Job,
    state: JobState,
    now: datetime,
    *,
    error: str | None = None,
    error_kind: str | None = None,
) -> None:
    job.state = state
    job.error = error
    job.error_kind = error_kind
    job.lease_expires_at = None
    job.eta_seconds = None
    job.finished_at = now


def fail(
    s: Session,
    job_id: int,
    *,
    worker_id: str,
    token: str,
    error: str,
    retry: bool,
    error_kind: str | None = None,
    now: datetime | None = None,
) -> JobState | None:
    """A run failed with ``error`` (for the logs and admins), of ``error_kind``
    (engine.contract.FailureKind: what the person is told).

    ``retry``: queue it again unless it has had all its attempts; otherwise it fails for
    good. Returns the job's new state, or None when it was no longer this claim's.
    """
    now = _clock(s, now)
    job = _held(s, job_id, worker_id, token)
    if job is None:
        return None
    if job.cancel_requested:
        _finish(job, JobState.CANCELLED, now)
    elif retry and job.attempts < job.max_attempts:
        _requeue(job)
        job.error = error  # kept for the logs and /stats; cleared when it succeeds
        job.error_kind = error_kind
        logger.warning("job %s attempt %s failed, will retry: %s", job_id, job.attempts, error)
    else:
        reason = error if not retry or job.attempts < 2 else f"{error} (tried {job.attempts} times)"
        _finish(job, JobState.FAILED, now, error=reason, error_kind=error_kind)
        logger.warning("job %s failed: %s", job_id, reason)
    s.flush()
    return job.state


def release(
    s: Session, job_id: int, *, worker_id: str, token: str, now: datetime | None = None
) -> None:
    """Hand a job back on shutdown: queued again, the attempt not counted."""
    now = _clock(s, now)
    job = _held(s, job_id, worker_id, token)
    if job is None:
        return
    if job.cancel_requested:
        _finish(job, JobState.CANCELLED, now)
    else:
        _requeue(job)
        job.attempts = max(job.attempts - 1, 0)
        logger.info("job %s handed back by %s", job_id, worker_id)
    s.flush()


def mark_cancelled(
    s: Session, job_id: int, *, worker_id: str, token: str, now: datetime | None = None
) -> bool:
    """The worker stopped a job whose owner cancelled it; False if it was no longer ours."""
    now = _clock(s, now)
    job = _held(s, job_id, worker_id, token)
    if job is None:
        return False
    _finish(job, JobState.CANCELLED, now)
    s.flush()
    logger.info("job %s cancelled while running", job_id)
    return True


def reclaim_expired(s: Session, *, now: datetime | None = None) -> int:
    """Take back running jobs whose lease has passed (their worker died); how many.

    Each goes back to the queue, or fails with a readable reason once it has had all its
    attempts (a picture that kills the engine every time must not kill it forever).
    """
    now = _clock(s, now)
    # SKIP LOCKED: two workers reclaiming at once each take different jobs rather than one
    # waiting on the other (SQLite: ignored, writers already take turns).
    expired = s.scalars(
        select(Job)
        .where(Job.state == JobState.RUNNING, Job.lease_expires_at < now)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    for job in expired:
        previous = job.worker_id
        if job.cancel_requested:
            _finish(job, JobState.CANCELLED, now)
        elif job.attempts >= job.max_attempts:
            _finish(
                job,
                JobState.FAILED,
                now,
                error=f"the engine stopped while working on it {_times(job.attempts)}",
                error_kind=FailureKind.ENGINE_STOPPED,
            )
        else:
            _requeue(job)
        logger.warning(
            "job %s: lease of %s expired after attempt %s; now %s",
            job.id,
            previous,
            job.attempts,
            job.state,
        )
        if job.state in FINISHED_STATES:
            clip_frames.drop(s, job.id)  # a video's frames: no attempt will resume from them
    s.flush()
    return len(expired)


# -- the bot's side -------------------------------------------------------------------------


def _unanswered() -> tuple[ColumnElement[bool], ...]:
    return (
        Job.state.in_(FINISHED_STATES),
        Job.delivered_at.is_(None),
        Job.undeliverable_at.is_(None),
    )


def undelivered(
    s: Session,
    *,
    limit: int = 20,
    now: datetime | None = None,
    skip: Sequence[int] = (),
) -> list[Job]:
    """Finished jobs (done, failed or cancelled) the bot has not answered yet and may try now
    (not backing off), oldest first; ``skip``: jobs the bot is answering at the moment."""
    now = now or utcnow()
    query = (
        select(Job)
        .where(*_unanswered(), or_(Job.deliver_after.is_(None), Job.deliver_after <= now))
        .order_by(Job.finished_at, Job.id)
        .limit(limit)
    )
    if skip:
        query = query.where(Job.id.not_in(list(skip)))
    return list(s.scalars(query))


def record_step(
    s: Session,
    job_id: int,
    *,
    result_message_id: int | None = None,
    file_message_id: int | None = None,
) -> None:
    """A step of a job's answer reached the chat (Telegram accepted it): recorded at once, so
    that no retry sends it again."""
    values = {"result_message_id": result_message_id, "file_message_id": file_message_id}
    s.execute(
        update(Job)
        .where(Job.id == job_id)
        .values({k: v for k, v in values.items() if v is not None})
        .execution_options(synchronize_session=False)
    )


def delivery_failed(
    s: Session,
    job_id: int,
    *,
    error: str,
    retry_at: datetime | None,
    now: datetime | None = None,
) -> int:
    """A try at answering failed with ``error``: try again at ``retry_at``, or (None) give up:
    the job is undeliverable, ``error`` its reason. The number of tries so far."""
    now = now or utcnow()
    values: dict[str, Any] = {
        "delivery_attempts": Job.delivery_attempts + 1,
        "delivery_error": error[:1000],
        "deliver_after": retry_at,
    }
    if retry_at is None:
        values["undeliverable_at"] = now
    tries = s.scalar(
        update(Job)
        .where(Job.id == job_id, *_unanswered())
        .values(values)
        .returning(Job.delivery_attempts)
        .execution_options(synchronize_session=False)
    )
    return int(tries or 0)


def mark_delivered(s: Session, job_id: int, *, now: datetime | None = None) -> bool:
    """Record that the bot answered; True for the first caller only."""
    # Conditional on "not answered yet": two bot processes (or a retry after a restart)
    # racing to deliver the same job get one True between them.
    result = s.execute(
        update(Job)
        .where(Job.id == job_id, *_unanswered())
        .values(delivered_at=now or utcnow(), deliver_after=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def active_jobs(s: Session) -> list[Row[Any]]:
    """Queued and running jobs in id order, for the bot's status messages: only the columns
    those need (``id``, ``chat_id``, ``status_message_id``, ``status_photo``, ``state``,
    ``progress``, ``eta_seconds``, and the person's ``language``), in one query. The bot asks
    several times a second, so no pictures' ids, parameters or whole rows are loaded."""
    return list(
        s.execute(
            select(
                Job.id,
                Job.chat_id,
                Job.status_message_id,
                Job.status_photo,
                Job.state,
                Job.progress,
                Job.eta_seconds,
                User.language,
            )
            .outerjoin(User, User.id == Job.user_id)
            .where(Job.state.in_((JobState.QUEUED, JobState.RUNNING)))
            .order_by(Job.id)
        )
    )
