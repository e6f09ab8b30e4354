"""Queue and worker helpers for tests: queue a job, claim it, read it back, run a worker loop.

Each opens its own transaction, as the bot and the workers do.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine.contract import JobParams, PhotoParams
from engine.jobs import queue
from engine.jobs.models import Job
from engine.jobs.settings import EngineSettings
from engine.jobs.worker import RunJob, Worker

Maker = sessionmaker[Session]
FAST = PhotoParams(preset="fast")


def submit(
    maker: Maker,
    user: int,
    picture: str,
    *,
    params: JobParams = FAST,
    style: str | None = None,
    **kw: Any,
) -> int:
    """Queue a job for ``user`` (chat id = user id) painting ``picture`` in ``style`` (by
    default itself); its id. ``kw`` goes to queue.submit (limits, priority, now...)."""
    with maker.begin() as s:
        return queue.submit(
            s,
            user_id=user,
            chat_id=user,
            content_sha=picture,
            styles=[(style or picture, 1.0)],
            params=params,
            **kw,
        ).id


def claim(
    maker: Maker, worker: str = "w1", *, lease: float = 30, now: datetime | None = None
) -> Job | None:
    with maker.begin() as s:
        return queue.claim(s, worker_id=worker, lease_seconds=lease, now=now)


def job(maker: Maker, job_id: int) -> Job:
    """The job's row as it is now (read in a session of its own)."""
    with maker() as s:
        found = s.get(Job, job_id)
        assert found is not None
        return found


def run_all(maker: Maker, worker: str = "w1") -> list[int]:
    """Claim and complete until the queue is empty, one job at a time; the order run."""
    order = []
    while (taken := claim(maker, worker)) is not None:
        with maker.begin() as s:
            assert queue.complete(
                s,
                taken.id,
                worker_id=worker,
                token=str(taken.claim_token),
                result_sha=taken.content_sha,
                run_seconds=0.1,
            )
        order.append(taken.id)
    return order


def worker_settings(tmp_path: Path, **overrides: float) -> EngineSettings:
    """Settings for a worker loop in the test's process: every progress call writes, so the
    tests see each one, and an idle worker looks again at once."""
    values: dict[str, float] = {
        "lease_seconds": 30.0,
        "heartbeat_seconds": 0.0,
        "progress_seconds": 0.0,
        "poll_seconds": 0.01,
    }
    values.update(overrides)
    return EngineSettings(data_dir=tmp_path, database_url="unused", **values)  # type: ignore[arg-type]


def make_worker(maker: Maker, tmp_path: Path, run_job: RunJob, **overrides: float) -> Worker:
    return Worker(maker, worker_settings(tmp_path, **overrides), run_job=run_job, worker_id="w1")


def complete(maker: Maker, taken: Job, *, result_sha: str, run_seconds: float = 0.1) -> bool:
    """Finish a claimed job as its worker would (under its claim)."""
    with maker.begin() as s:
        return queue.complete(
            s,
            taken.id,
            worker_id=str(taken.worker_id),
            token=str(taken.claim_token),
            result_sha=result_sha,
            run_seconds=run_seconds,
        )


def token_of(s: Session, job_id: int) -> str:
    """The claim the job is under now (tests that play another party take it from the row)."""
    found = s.get(Job, job_id)
    assert found is not None and found.claim_token is not None
    return found.claim_token
