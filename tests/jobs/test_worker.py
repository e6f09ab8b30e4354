"""The worker loop, in this process, on both databases: what happens to a job in each case.

The tests hand the worker a cheap ``run_job`` so that they test the loop, not the algorithm
(tests/test_bridge.py runs the real engine).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.contract import FailureKind, JobKind, PhotoParams
from engine.jobs import blobs, queue
from engine.jobs.models import Job
from engine.jobs.models import Worker as WorkerRow
from engine.jobs.worker import BadJob, JobInput, JobResult, Progress, RunJob, Stopped, Worker
from tests.support.jobs import Maker, job, make_worker, submit

pytestmark = pytest.mark.timeout(60)

RESULT = JobResult(data=b"result bytes", mime="image/jpeg", width=4, height=3)


def token_of(s: Session, job_id: int) -> str:
    """The claim the job is under now (tests that play another party take it from the row)."""
    found = s.get(Job, job_id)
    assert found is not None and found.claim_token is not None
    return found.claim_token


def test_a_job_runs_and_its_result_is_stored(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    seen: list[JobInput] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        seen.append(inputs)
        assert progress(0.5, 1.0) is None  # go on
        return RESULT

    job_id = submit(maker, people[0], picture)
    worker = make_worker(maker, tmp_path, run)
    assert worker.run(once=True) == 1
    assert seen[0].job_id == job_id and seen[0].attempt == 1
    assert seen[0].content == b"not really a jpeg"
    assert seen[0].styles == ((b"not really a jpeg", 1.0),)
    assert (seen[0].kind, seen[0].params) == (JobKind.PHOTO, PhotoParams(preset="fast"))
    done = job(maker, job_id)
    assert done.state == "done" and done.run_seconds is not None
    with maker() as s:
        assert done.result_sha is not None
        assert blobs.get_image(s, done.result_sha) == RESULT.data
        row = s.get(WorkerRow, "w1")
        assert row is not None and row.jobs_done == 1 and row.stopped_at is not None
    assert worker.run(once=True) == 0  # an empty queue: --once returns at once


def test_progress_is_written_for_the_bot_to_show(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    job_id = submit(maker, people[0], picture)
    watched: list[float] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        progress(0.25, 9.0)
        deadline = time.monotonic() + 5  # written in the background, within moments
        while job(maker, inputs.job_id).progress != 0.25 and time.monotonic() < deadline:
            time.sleep(0.01)
        watched.append(job(maker, inputs.job_id).progress)
        return RESULT

    make_worker(maker, tmp_path, run).run(once=True)
    assert watched == [0.25]
    assert job(maker, job_id).state == "done"


def test_a_bad_picture_fails_at_once_with_the_reason(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    def run(inputs: JobInput, progress: Progress) -> JobResult:
        raise BadJob("the picture is damaged or incomplete", FailureKind.BAD_PICTURE)

    job_id = submit(maker, people[0], picture, max_attempts=3)
    make_worker(maker, tmp_path, run).run(once=True)
    failed = job(maker, job_id)
    assert (failed.state, failed.attempts) == ("failed", 1)
    assert failed.error == "the picture is damaged or incomplete"
    assert failed.error_kind == "bad_picture"


def test_an_unexpected_error_is_retried_then_reported(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    calls: list[int] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        calls.append(inputs.attempt)
        raise RuntimeError("boom")

    job_id = submit(maker, people[0], picture, max_attempts=2)
    make_worker(maker, tmp_path, run).run(max_jobs=2)
    assert calls == [1, 2]
    failed = job(maker, job_id)
    assert failed.state == "failed"
    assert failed.error == "the engine hit an unexpected error (RuntimeError: boom) (tried 2 times)"
    assert failed.error_kind == "engine_error"  # what the person is told: never the text


def test_a_missing_picture_fails_with_a_reason(
    maker: Maker, people: list[int], picture: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing_stored(s: Session, sha256: str) -> bytes:
        raise KeyError(sha256)

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        raise AssertionError("never reached")

    job_id = submit(maker, people[0], picture)
    monkeypatch.setattr(blobs, "get_image", nothing_stored)
    make_worker(maker, tmp_path, run).run(once=True)
    failed = job(maker, job_id)
    assert failed.state == "failed"
    assert failed.error == "a picture for this job is missing; please send it again"
    assert failed.error_kind == "missing_picture"


def _stops_when_told(
    on_first_step: Callable[[JobInput], None],
) -> RunJob:
    """A run that calls ``on_first_step`` and then steps until its callback says stop."""

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        on_first_step(inputs)
        for step in range(1000):  # ten seconds at most: the lease's writes notice at once
            reason = progress(step / 1000, None)
            if reason is not None:
                raise Stopped(reason)
            time.sleep(0.01)
        return RESULT

    return run


def test_a_running_job_stops_when_its_owner_cancels(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    def owner_cancels(inputs: JobInput) -> None:
        with maker.begin() as s:
            assert queue.cancel(s, inputs.job_id, user_id=people[0])

    job_id = submit(maker, people[0], picture)
    make_worker(maker, tmp_path, _stops_when_told(owner_cancels)).run(once=True)
    cancelled = job(maker, job_id)
    assert cancelled.state == "cancelled" and cancelled.result_sha is None


def test_shutdown_hands_the_job_back_uncounted(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    worker: Worker

    def signal_arrives(inputs: JobInput) -> None:
        worker.stop()

    job_id = submit(maker, people[0], picture)
    worker = make_worker(maker, tmp_path, _stops_when_told(signal_arrives))
    worker.run()
    back = job(maker, job_id)
    assert (back.state, back.attempts, back.worker_id) == ("queued", 0, None)
    with maker() as s:
        row = s.get(WorkerRow, "w1")
        assert row is not None and row.stopped_at is not None


def test_a_worker_that_lost_its_lease_drops_its_result(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    def someone_else_takes_it(inputs: JobInput, progress: Progress) -> JobResult:
        with maker.begin() as s:  # as if our lease had passed and another worker claimed it
            queue.release(s, inputs.job_id, worker_id="w1", token=token_of(s, inputs.job_id))
            assert queue.claim(s, worker_id="w2", lease_seconds=30) is not None
        return RESULT

    job_id = submit(maker, people[0], picture)
    make_worker(maker, tmp_path, someone_else_takes_it).run(once=True)
    taken = job(maker, job_id)
    assert (taken.state, taken.worker_id, taken.result_sha) == ("running", "w2", None)


def test_progress_stops_a_run_whose_lease_was_lost(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    def lease_passes(inputs: JobInput) -> None:
        with maker.begin() as s:
            queue.release(s, inputs.job_id, worker_id="w1", token=token_of(s, inputs.job_id))

    job_id = submit(maker, people[0], picture)
    worker = make_worker(maker, tmp_path, _stops_when_told(lease_passes))
    assert worker.run(once=True) == 1
    assert job(maker, job_id).state == "queued"  # left for whoever holds it now


def _stored_params(maker: Maker, job_id: int, params: dict[str, object]) -> None:
    with maker.begin() as s:
        s.execute(update(Job).where(Job.id == job_id).values(params=params))


def test_a_row_from_before_the_contract_reaches_the_run_as_typed_parameters(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    seen: list[JobInput] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        seen.append(inputs)
        return RESULT

    job_id = submit(maker, people[0], picture)
    _stored_params(maker, job_id, {"preset": "high", "size": None, "strength": 2, "seed": None})
    make_worker(maker, tmp_path, run).run(once=True)
    assert seen[0].params == PhotoParams(preset="high", strength=2.0)
    assert job(maker, job_id).state == "done"


def test_parameters_the_engine_cannot_read_fail_the_job_at_once_with_the_reason(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    def run(inputs: JobInput, progress: Progress) -> JobResult:
        raise AssertionError("never reached")

    job_id = submit(maker, people[0], picture, max_attempts=3)
    _stored_params(maker, job_id, {"version": 99, "preset": "fast"})  # from newer code
    make_worker(maker, tmp_path, run).run(once=True)
    failed = job(maker, job_id)
    assert (failed.state, failed.attempts) == ("failed", 1)
    assert failed.error is not None
    assert failed.error.startswith("the job's options are not valid: ")
    assert "newer than this engine reads" in failed.error
    assert failed.error_kind == "bad_options"
