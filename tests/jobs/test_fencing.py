"""Fencing and leases: a stale claimant is refused whatever its id, leases come from the
database's clock, a whole run keeps its lease, and a database blip does not throw a finished
result away. In the test's process, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from engine.jobs import queue
from engine.jobs.models import Job, utcnow
from engine.jobs.worker import JobInput, JobResult, Progress, default_worker_id
from tests.support.jobs import Maker, claim, job, make_worker, submit

pytestmark = pytest.mark.timeout(60)

RESULT = JobResult(data=b"result bytes", mime="image/jpeg", width=4, height=3)


def _reclaimed_and_claimed_again_by_the_same_id(maker: Maker, job_id: int) -> Job:
    """As if our lease had passed, and a second container with our worker id took the job."""
    with maker.begin() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(minutes=5))
        )
    with maker.begin() as s:
        assert queue.reclaim_expired(s) == 1
    again = claim(maker, "w1")
    assert again is not None and again.id == job_id
    return again


@pytest.mark.parametrize("late_write", ["fail", "complete"])
def test_a_stale_claimant_with_the_same_worker_id_is_refused(
    maker: Maker, people: list[int], picture: str, tmp_path: Path, late_write: str
) -> None:
    """Problem 6: writes were conditional on the worker id alone, so a stale run under a reused
    id had its late fail(retry=True) (or its result) accepted."""

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        _reclaimed_and_claimed_again_by_the_same_id(maker, inputs.job_id)
        if late_write == "fail":
            raise RuntimeError("the stale run fails, late")
        return RESULT

    job_id = submit(maker, people[0], picture, max_attempts=3)
    make_worker(maker, tmp_path, run).run(once=True)
    current = job(maker, job_id)
    assert (current.state, current.worker_id, current.attempts) == ("running", "w1", 2)
    assert current.result_sha is None and current.error is None


def test_the_default_worker_id_is_new_at_every_start() -> None:
    """Problem 6: HOST-PID repeats for two containers whose worker is PID 1."""
    assert default_worker_id() != default_worker_id()


def test_leases_follow_the_databases_clock_not_the_workers(
    maker: Maker, people: list[int], picture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Problem 8: a worker whose clock was an hour slow wrote a lease that every other worker
    saw as long expired, and the job was taken from under it."""
    job_id = submit(maker, people[0], picture)
    real = utcnow
    monkeypatch.setattr(queue, "utcnow", lambda: real() - timedelta(hours=1))
    taken = claim(maker, "slow-clock", lease=60)
    assert taken is not None
    monkeypatch.undo()
    with maker.begin() as s:
        assert queue.reclaim_expired(s) == 0
    assert job(maker, job_id).state == "running"


def test_a_run_keeps_its_lease_while_it_decodes_without_reporting_progress(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    """Problem 8: heartbeats came only from optimisation steps; decoding, style features and
    encoding had none, and a long one lost the job to another worker."""
    stolen: list[int] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        time.sleep(2.5)  # over twice the lease, and not one progress call
        with maker.begin() as s:
            stolen.append(queue.reclaim_expired(s))
        return RESULT

    job_id = submit(maker, people[0], picture)
    worker = make_worker(
        maker, tmp_path, run, lease_seconds=1.0, heartbeat_seconds=0.2, progress_seconds=0.2
    )
    worker.run(once=True)
    assert stolen == [0]
    done = job(maker, job_id)
    assert (done.state, done.attempts) == ("done", 1)


def test_a_database_blip_while_the_result_is_written_loses_nothing(
    maker: Maker,
    people: list[int],
    picture: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Problem 8: a database error while the result was written threw the finished picture
    away and cost an attempt."""
    runs: list[int] = []
    real = queue.complete
    tries: list[int] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        runs.append(inputs.attempt)
        return RESULT

    def blip_then_write(*args: object, **kwargs: object) -> bool:
        tries.append(1)
        if len(tries) == 1:  # the server restarts under the first try
            raise OperationalError("UPDATE jobs ...", {}, ConnectionError("server closed"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(queue, "complete", blip_then_write)
    job_id = submit(maker, people[0], picture)
    make_worker(maker, tmp_path, run).run(once=True)
    done = job(maker, job_id)
    assert (done.state, done.attempts, runs) == ("done", 1, [1])
    assert len(tries) == 2 and done.result_sha is not None
