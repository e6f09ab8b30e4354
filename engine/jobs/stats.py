"""The queue in numbers, for ``/stats``, ``python -m engine stats`` and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from engine.jobs.db import dialect_of
from engine.jobs.models import FINISHED_STATES, Job, JobState, Worker, utcnow
from engine.jobs.registry import WORKER_LIVE_SECONDS


@dataclass(frozen=True)
class HourCount:
    hour: datetime  # start of the hour, naive UTC
    done: int
    failed: int


@dataclass(frozen=True)
class QueueStats:
    queued: int
    running: int
    live_workers: int
    submitted_last_hour: int
    done_last_hour: int
    failed_last_hour: int
    cancelled_last_hour: int
    mean_run_seconds: float | None  # of the jobs done in the last hour
    oldest_queued_seconds: float | None  # how long the longest-waiting job has waited
    by_hour: tuple[HourCount, ...]  # the last 24 hours that saw finished jobs, oldest first
    undeliverable_last_day: int = 0  # answers given up in the last 24 hours
    # The latest of them: (job id, why), newest first.
    undeliverable_latest: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Gauges:
    """What the metrics show of the queue (engine.jobs.metrics.QueueCollector)."""

    by_state: dict[str, int]
    undelivered: int  # finished, not answered yet
    delivery_lag_seconds: float  # how long the oldest of those has waited (0: none waits)
    undeliverable: int
    live_workers: int
    oldest_queued_seconds: float  # 0: nothing waits


def _hour_start(s: Session, column: Any) -> Any:
    if dialect_of(s) == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def stats(
    s: Session, *, now: datetime | None = None, live_seconds: float = WORKER_LIVE_SECONDS
) -> QueueStats:
    """The queue in numbers, for /stats and ``python -m engine stats``."""
    now = now or utcnow()
    hour_ago = now - timedelta(hours=1)

    def count(*where: ColumnElement[bool]) -> int:
        return int(s.scalar(select(func.count()).select_from(Job).where(*where)) or 0)

    finished_recently = Job.finished_at > hour_ago
    mean_run = s.scalar(
        select(func.avg(Job.run_seconds)).where(Job.state == JobState.DONE, finished_recently)
    )
    oldest = s.scalar(select(func.min(Job.created_at)).where(Job.state == JobState.QUEUED))
    live = s.scalar(
        select(func.count())
        .select_from(Worker)
        .where(
            Worker.stopped_at.is_(None),
            Worker.last_seen_at > now - timedelta(seconds=live_seconds),
        )
    )
    hour = _hour_start(s, Job.finished_at).label("hour")
    rows = s.execute(
        select(
            hour,
            func.sum(case((Job.state == JobState.DONE, 1), else_=0)),
            func.sum(case((Job.state == JobState.FAILED, 1), else_=0)),
        )
        .where(
            Job.finished_at > now - timedelta(hours=24),
            Job.state.in_((JobState.DONE, JobState.FAILED)),
        )
        .group_by(hour)
        .order_by(hour)
    ).all()
    day_ago = now - timedelta(hours=24)
    latest = s.execute(
        select(Job.id, Job.delivery_error)
        .where(Job.undeliverable_at > day_ago)
        .order_by(Job.undeliverable_at.desc(), Job.id.desc())
        .limit(3)
    ).all()
    return QueueStats(
        undeliverable_last_day=count(Job.undeliverable_at > day_ago),
        undeliverable_latest=tuple((int(i), str(e or "?")) for i, e in latest),
        queued=count(Job.state == JobState.QUEUED),
        running=count(Job.state == JobState.RUNNING),
        live_workers=int(live or 0),
        submitted_last_hour=count(Job.created_at > hour_ago),
        done_last_hour=count(Job.state == JobState.DONE, finished_recently),
        failed_last_hour=count(Job.state == JobState.FAILED, finished_recently),
        cancelled_last_hour=count(Job.state == JobState.CANCELLED, finished_recently),
        mean_run_seconds=float(mean_run) if mean_run is not None else None,
        oldest_queued_seconds=(now - oldest).total_seconds() if oldest is not None else None,
        by_hour=tuple(
            HourCount(hour=_as_datetime(h), done=int(d or 0), failed=int(f or 0))
            for h, d, f in rows
        ),
    )


def _live(now: datetime, live_seconds: float) -> ColumnElement[bool]:
    return (Worker.stopped_at.is_(None)) & (
        Worker.last_seen_at > now - timedelta(seconds=live_seconds)
    )


def gauges(
    s: Session, *, now: datetime | None = None, live_seconds: float = WORKER_LIVE_SECONDS
) -> Gauges:
    """The queue's state now, for the metrics: a handful of small queries."""
    now = now or utcnow()
    by_state = {str(state): 0 for state in JobState}
    for state, number in s.execute(select(Job.state, func.count()).group_by(Job.state)):
        by_state[str(state)] = int(number)
    waiting = (
        Job.state.in_(FINISHED_STATES),
        Job.delivered_at.is_(None),
        Job.undeliverable_at.is_(None),
    )
    undelivered, oldest_finished = s.execute(
        select(func.count(), func.min(Job.finished_at)).where(*waiting)
    ).one()
    oldest_queued = s.scalar(select(func.min(Job.created_at)).where(Job.state == JobState.QUEUED))
    return Gauges(
        by_state=by_state,
        undelivered=int(undelivered or 0),
        delivery_lag_seconds=_age(now, oldest_finished),
        undeliverable=int(
            s.scalar(select(func.count()).where(Job.undeliverable_at.is_not(None))) or 0
        ),
        live_workers=int(
            s.scalar(select(func.count()).select_from(Worker).where(_live(now, live_seconds))) or 0
        ),
        oldest_queued_seconds=_age(now, oldest_queued),
    )


def _age(now: datetime, since: datetime | str | None) -> float:
    return 0.0 if since is None else max(0.0, (now - _as_datetime(since)).total_seconds())


def format_stats(numbers: QueueStats) -> str:
    """The numbers as a few lines of text, for the command line."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    lines = [
        f"queued: {numbers.queued}",
        f"running: {numbers.running}",
        f"live workers: {numbers.live_workers}",
        f"oldest queued job waiting: {seconds(numbers.oldest_queued_seconds)}",
        f"last hour: {numbers.submitted_last_hour} submitted, {numbers.done_last_hour} done, "
        f"{numbers.failed_last_hour} failed, {numbers.cancelled_last_hour} cancelled; "
        f"mean run {seconds(numbers.mean_run_seconds)}",
    ]
    if numbers.undeliverable_last_day:
        lines.append(f"undeliverable in the last 24 hours: {numbers.undeliverable_last_day}")
        lines += [f"  job {job}: {why}" for job, why in numbers.undeliverable_latest]
    if numbers.by_hour:
        lines.append("by hour (UTC): done / failed")
        lines += [f"  {h.hour:%Y-%m-%d %H:00}  {h.done} / {h.failed}" for h in numbers.by_hour]
    return "\n".join(lines)
