"""The worker registry: which engine workers exist, when each was last seen, what it runs.

``/stats``, ``python -m engine stats`` and the container health check (``engine.jobs.health``)
read it; a worker writes it at start-up, on every heartbeat (idle or busy) and at shutdown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.jobs.models import Worker, utcnow

WORKER_LIVE_SECONDS = 120.0  # a worker not seen for this long counts as gone


def register_worker(
    s: Session,
    *,
    worker_id: str,
    hostname: str,
    pid: int,
    device: str,
    now: datetime | None = None,
) -> None:
    """Record a worker at start-up (a restarted worker with the same id starts afresh)."""
    now = now or utcnow()
    worker = s.get(Worker, worker_id)
    if worker is None:
        worker = Worker(id=worker_id, jobs_done=0)
        s.add(worker)
    worker.hostname, worker.pid, worker.device = hostname, pid, device
    worker.started_at = worker.last_seen_at = now
    worker.stopped_at = None
    worker.current_job_id = None
    s.flush()


def worker_seen(
    s: Session,
    worker_id: str,
    *,
    current_job_id: int | None = None,
    jobs_done: int | None = None,
    now: datetime | None = None,
) -> None:
    """A worker is alive (and working on ``current_job_id``)."""
    values: dict[str, Any] = {"last_seen_at": now or utcnow(), "current_job_id": current_job_id}
    if jobs_done is not None:
        values["jobs_done"] = jobs_done
    s.execute(
        update(Worker)
        .where(Worker.id == worker_id)
        .values(values)
        .execution_options(synchronize_session=False)
    )


def worker_stopped(s: Session, worker_id: str, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    s.execute(
        update(Worker)
        .where(Worker.id == worker_id)
        .values(stopped_at=now, last_seen_at=now, current_job_id=None)
        .execution_options(synchronize_session=False)
    )
