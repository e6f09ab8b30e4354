"""The queue contract (docs/ARCHITECTURE.md), held on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from engine.contract import JobKind, load_params
from engine.jobs import blobs, prune, queue, registry, stats
from engine.jobs.models import ChatSession, Image, Job, JobState, utcnow
from engine.jobs.models import Worker as WorkerRow
from tests.support.jobs import FAST as PARAMS
from tests.support.jobs import Maker, claim, job, run_all, submit

T0 = datetime(2030, 1, 1, 12, 0, 0)  # a fixed "now" for tests that move time


def token_of(claimed: Job | None) -> str:
    """The claim a worker holds, which its every write names."""
    assert claimed is not None and claimed.claim_token is not None
    return claimed.claim_token


def test_submit_claim_complete_deliver(maker: Maker, people: list[int], picture: str) -> None:
    job_id = submit(maker, people[0], picture)
    assert job(maker, job_id).state == JobState.QUEUED

    taken = claim(maker, "w1")
    assert taken is not None and taken.id == job_id
    assert taken.claim_token is not None
    assert (taken.state, taken.worker_id, taken.attempts) == ("running", "w1", 1)
    assert taken.kind == JobKind.PHOTO and taken.state == JobState.RUNNING
    assert load_params(taken.kind, taken.params) == PARAMS
    assert taken.styles == [{"sha256": picture, "weight": 1.0}]
    assert claim(maker, "w2") is None  # nothing else to take

    with maker.begin() as s:
        assert queue.undelivered(s) == []  # not finished yet
        assert queue.complete(
            s,
            job_id,
            worker_id="w1",
            token=taken.claim_token,
            result_sha=picture,
            run_seconds=2.5,
        )
    done = job(maker, job_id)
    assert (done.state, done.result_sha, done.run_seconds, done.progress) == (
        "done",
        picture,
        2.5,
        1.0,
    )
    with maker.begin() as s:
        assert [j.id for j in queue.undelivered(s)] == [job_id]
        assert queue.mark_delivered(s, job_id) is True
    with maker.begin() as s:
        assert queue.mark_delivered(s, job_id) is False
        assert queue.undelivered(s) == []


def test_two_sessions_never_claim_the_same_job(
    maker: Maker, people: list[int], picture: str
) -> None:
    """A claim held open in one transaction is invisible or locked to a second claimer."""
    first, second = submit(maker, people[0], picture), submit(maker, people[1], picture)
    got: dict[str, int | None] = {}

    def slow_claimer() -> None:
        with maker.begin() as s:
            taken = queue.claim(s, worker_id="slow", lease_seconds=30)
            got["slow"] = taken.id if taken else None
            time.sleep(0.5)  # hold the transaction (and on PostgreSQL the row lock) open

    thread = threading.Thread(target=slow_claimer)
    thread.start()
    time.sleep(0.15)
    other = claim(maker, "fast")
    thread.join()
    got["fast"] = other.id if other else None
    assert sorted(v for v in got.values() if v is not None) == [first, second]


def test_many_claimers_take_every_job_exactly_once(
    maker: Maker, people: list[int], picture: str
) -> None:
    ids = [submit(maker, people[i % 3], picture) for i in range(40)]
    taken: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (got := claim(maker, name)) is not None:
            with lock:
                taken.append(got.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == ids
    with maker() as s:
        assert s.scalar(select(func.max(Job.attempts))) == 1


def test_one_persons_five_jobs_do_not_all_run_before_anothers_one(
    maker: Maker, people: list[int], picture: str
) -> None:
    alice, bob, carol = people
    alices = [submit(maker, alice, picture) for _ in range(5)]
    bobs = submit(maker, bob, picture)
    with maker() as s:
        assert queue.position(s, alices[0]) == 1
        assert queue.position(s, bobs) == 2  # ahead of Alice's second
    order = run_all(maker)  # a single worker: nobody's job is running at any claim
    assert order[:2] == [alices[0], bobs]
    assert order[2:] == alices[1:]

    # Alice has had the engine five times this hour: Carol's one job goes before her next.
    alices = [submit(maker, alice, picture) for _ in range(4)]
    carols = submit(maker, carol, picture)
    assert claim(maker, "w1").id == carols  # type: ignore[union-attr]


def test_only_the_last_hour_of_use_pushes_a_person_back(
    maker: Maker, people: list[int], picture: str
) -> None:
    alice, bob, _ = people
    earlier = submit(maker, alice, picture)
    run_all(maker)  # Alice used the engine just now
    alices = submit(maker, alice, picture)
    bobs = submit(maker, bob, picture)
    soon, later = utcnow() + timedelta(minutes=30), utcnow() + timedelta(minutes=61)
    with maker() as s:
        assert job(maker, earlier).started_at is not None
        # Within the hour Alice's turn counts her last job: Bob's goes first.
        assert queue.positions(s, now=soon) == {bobs: 1, alices: 2}
        assert queue.position(s, alices, now=soon) == 2
        # An hour on it no longer does: equal turns, so the older job goes first.
        assert queue.positions(s, now=later) == {alices: 1, bobs: 2}
    assert claim(maker, now=later).id == alices  # type: ignore[union-attr]


def test_priority_goes_first_among_equal_turns(
    maker: Maker, people: list[int], picture: str
) -> None:
    plain = submit(maker, people[0], picture)
    urgent = submit(maker, people[1], picture, priority=5)
    assert run_all(maker) == [urgent, plain]


def test_limits_refuse_with_a_reason(maker: Maker, people: list[int], picture: str) -> None:
    alice, bob, carol = people
    submit(maker, alice, picture, max_queued_per_user=2)
    submit(maker, alice, picture, max_queued_per_user=2)
    with pytest.raises(queue.QueueFull) as refused:
        submit(maker, alice, picture, max_queued_per_user=2)
    assert refused.value.reason == "user_queued" and refused.value.limit == 2
    # A running job still counts; a finished one does not.
    taken = claim(maker)
    assert taken is not None
    with pytest.raises(queue.QueueFull):
        submit(maker, alice, picture, max_queued_per_user=2)
    with maker.begin() as s:
        queue.complete(
            s, taken.id, worker_id="w1", token=token_of(taken), result_sha=picture, run_seconds=1
        )
    submit(maker, alice, picture, max_queued_per_user=2)

    # Per hour: jobs submitted more than an hour ago no longer count.
    submit(maker, bob, picture, now=utcnow() - timedelta(minutes=61))
    submit(maker, bob, picture, max_per_hour_per_user=2)
    submit(maker, bob, picture, max_per_hour_per_user=2)
    with pytest.raises(queue.QueueFull) as refused:
        submit(maker, bob, picture, max_per_hour_per_user=2)
    assert refused.value.reason == "user_hourly"

    # Everyone's queued jobs: Alice's 2 and Bob's 3.
    with pytest.raises(queue.QueueFull) as refused:
        submit(maker, carol, picture, max_queued_total=5)
    assert refused.value.reason == "global"
    submit(maker, carol, picture, max_queued_total=6)
    with maker() as s:  # the refusals left nothing behind
        assert s.scalar(select(func.count()).select_from(Job)) == 7


def test_failures_retry_then_fail_with_the_reason(
    maker: Maker, people: list[int], picture: str
) -> None:
    job_id = submit(maker, people[0], picture, max_attempts=2)
    first = token_of(claim(maker))
    with maker.begin() as s:
        assert (
            queue.fail(
                s,
                job_id,
                worker_id="w1",
                token=first,
                error="the engine ran out of memory",
                retry=True,
            )
            == "queued"
        )
    again = job(maker, job_id)
    assert (again.state, again.attempts, again.worker_id) == ("queued", 1, None)
    second = token_of(claim(maker, "w2"))
    with maker.begin() as s:
        stale = queue.fail(s, job_id, worker_id="w1", token=first, error="stale", retry=True)
        assert stale is None  # not w1's
        # Nor is the old claim, under the new claimant's name.
        assert queue.fail(s, job_id, worker_id="w2", token=first, error="x", retry=True) is None
        queue.fail(
            s,
            job_id,
            worker_id="w2",
            token=second,
            error="the engine ran out of memory",
            retry=True,
        )
    failed = job(maker, job_id)
    assert (failed.state, failed.attempts) == ("failed", 2)
    assert failed.error == "the engine ran out of memory (tried 2 times)"
    with maker() as s:
        assert [j.id for j in queue.undelivered(s)] == [job_id]  # the bot tells the person

    # A picture that cannot be read fails at once, whatever attempts are left.
    bad = submit(maker, people[1], picture)
    token = token_of(claim(maker))
    with maker.begin() as s:
        queue.fail(
            s, bad, worker_id="w1", token=token, error="this file is not a picture", retry=False
        )
    assert (job(maker, bad).state, job(maker, bad).error) == (
        "failed",
        "this file is not a picture",
    )


def test_an_expired_lease_puts_the_job_back_then_fails_it(
    maker: Maker, people: list[int], picture: str
) -> None:
    job_id = submit(maker, people[0], picture, max_attempts=2)
    dead = token_of(claim(maker, "dead", lease=30, now=T0))
    with maker.begin() as s:
        assert queue.reclaim_expired(s, now=T0 + timedelta(seconds=29)) == 0
        # A heartbeat moves the lease on...
        kept = queue.heartbeat(
            s,
            job_id,
            worker_id="dead",
            token=dead,
            lease_seconds=30,
            now=T0 + timedelta(seconds=20),
        )
        assert kept is None  # still ours
        assert queue.reclaim_expired(s, now=T0 + timedelta(seconds=45)) == 0
        # ...and without one it passes.
        assert queue.reclaim_expired(s, now=T0 + timedelta(seconds=51)) == 1
    back = job(maker, job_id)
    assert (back.state, back.attempts, back.worker_id, back.progress) == ("queued", 1, None, 0)

    # The dead worker, should it wake up, can no longer touch the job.
    with maker.begin() as s:
        lost = queue.heartbeat(s, job_id, worker_id="dead", token=dead, lease_seconds=30)
        assert lost is queue.StopReason.LEASE_LOST
        control = queue.report_progress(
            s,
            job_id,
            worker_id="dead",
            token=dead,
            fraction=0.5,
            eta_seconds=1,
            lease_seconds=30,
        )
        assert control is queue.StopReason.LEASE_LOST
        assert not queue.complete(
            s, job_id, worker_id="dead", token=dead, result_sha=picture, run_seconds=1
        )

    second = claim(maker, "dead-too", lease=30, now=T0 + timedelta(minutes=5))
    assert second is not None and second.attempts == 2
    with maker.begin() as s:
        assert queue.reclaim_expired(s, now=T0 + timedelta(minutes=6)) == 1
    failed = job(maker, job_id)
    assert failed.state == "failed"
    assert failed.error == "the engine stopped while working on it twice"
    assert failed.error_kind == "engine_stopped"


def test_release_hands_the_job_back_without_counting_the_attempt(
    maker: Maker, people: list[int], picture: str
) -> None:
    job_id = submit(maker, people[0], picture)
    token = token_of(claim(maker, "w1"))
    with maker.begin() as s:
        queue.report_progress(
            s,
            job_id,
            worker_id="w1",
            token=token,
            fraction=0.4,
            eta_seconds=3.0,
            lease_seconds=30,
        )
        queue.release(s, job_id, worker_id="w1", token=token)
    back = job(maker, job_id)
    assert (back.state, back.attempts, back.worker_id, back.progress) == ("queued", 0, None, 0)
    assert claim(maker, "w2").attempts == 1  # type: ignore[union-attr]


def test_cancel_queued_and_running_jobs_only_by_their_owner(
    maker: Maker, people: list[int], picture: str
) -> None:
    alice, bob, _ = people
    waiting = submit(maker, alice, picture)
    with maker.begin() as s:
        assert queue.cancel(s, waiting, user_id=bob) is False  # a forged button
    assert job(maker, waiting).state == "queued"
    with maker.begin() as s:
        assert queue.cancel(s, waiting, user_id=alice) is True
    assert job(maker, waiting).state == "cancelled"
    assert claim(maker) is None
    with maker.begin() as s:
        assert [j.id for j in queue.undelivered(s)] == [waiting]  # the bot edits its message
        assert queue.cancel(s, waiting, user_id=alice) is False  # already over

    running = submit(maker, alice, picture)
    token = token_of(claim(maker, "w1"))
    with maker.begin() as s:
        assert queue.cancel(s, running, user_id=bob) is False
        control = queue.report_progress(
            s, running, worker_id="w1", token=token, fraction=0.2, eta_seconds=5, lease_seconds=30
        )
        assert control is None  # go on
        assert queue.cancel(s, running, user_id=alice) is True
    assert job(maker, running).state == "running"  # until the worker notices
    with maker.begin() as s:
        control = queue.report_progress(
            s, running, worker_id="w1", token=token, fraction=0.3, eta_seconds=4, lease_seconds=30
        )
        assert control is queue.StopReason.CANCELLED
        assert queue.mark_cancelled(s, running, worker_id="w1", token=token)
    assert job(maker, running).state == "cancelled"

    # A cancel that lands while the worker shuts down or dies still ends the job.
    for ending in ("release", "reclaim"):
        doomed = submit(maker, alice, picture)
        token = token_of(claim(maker, "w1", now=T0))
        with maker.begin() as s:
            queue.cancel(s, doomed, user_id=alice)
            if ending == "release":
                queue.release(s, doomed, worker_id="w1", token=token)
            else:
                queue.reclaim_expired(s, now=T0 + timedelta(minutes=1))
        assert job(maker, doomed).state == "cancelled"


def test_position_counts_from_one_and_only_for_queued_jobs(
    maker: Maker, people: list[int], picture: str
) -> None:
    ids = [submit(maker, people[i], picture) for i in range(3)]
    with maker() as s:
        assert [queue.position(s, i) for i in ids] == [1, 2, 3]
    claim(maker)
    with maker() as s:
        assert [queue.position(s, i) for i in ids] == [None, 1, 2]
        assert queue.position(s, 999_999) is None


def test_stats_count_the_queue_the_last_hour_and_live_workers(
    maker: Maker, people: list[int], picture: str
) -> None:
    now = utcnow()
    ids = [submit(maker, people[i % 3], picture) for i in range(5)]
    with maker.begin() as s:
        registry.register_worker(s, worker_id="w1", hostname="h", pid=1, device="cpu", now=now)
        registry.register_worker(s, worker_id="w2", hostname="h", pid=2, device="cpu", now=now)
        registry.register_worker(
            s, worker_id="gone", hostname="h", pid=3, device="cpu", now=now - timedelta(hours=1)
        )
        registry.worker_stopped(s, "w2")
    first, second, third = (claim(maker, "w1") for _ in range(3))
    assert first and second and third
    with maker.begin() as s:
        for done, seconds in ((first, 2.0), (second, 4.0)):
            queue.complete(
                s,
                done.id,
                worker_id="w1",
                token=token_of(done),
                result_sha=picture,
                run_seconds=seconds,
            )
        queue.fail(s, third.id, worker_id="w1", token=token_of(third), error="bad", retry=False)
        queue.cancel(s, ids[4], user_id=people[4 % 3])
        registry.worker_seen(s, "w1", current_job_id=None, jobs_done=2)
    with maker() as s:
        numbers = stats.stats(s)
    assert (numbers.queued, numbers.running, numbers.live_workers) == (1, 0, 1)
    assert (numbers.done_last_hour, numbers.failed_last_hour, numbers.cancelled_last_hour) == (
        2,
        1,
        1,
    )
    assert numbers.submitted_last_hour == 5
    assert numbers.mean_run_seconds == pytest.approx(3.0)
    assert numbers.oldest_queued_seconds is not None and numbers.oldest_queued_seconds >= 0
    assert sum(h.done for h in numbers.by_hour) == 2
    assert sum(h.failed for h in numbers.by_hour) == 1
    assert all(h.hour.minute == 0 for h in numbers.by_hour)
    with maker() as s:  # an hour later, the last hour is empty but the 24 hours are not
        later = stats.stats(s, now=utcnow() + timedelta(hours=2))
    assert (later.done_last_hour, later.live_workers) == (0, 0)
    assert sum(h.done for h in later.by_hour) == 2
    assert "queued: 1" in stats.format_stats(numbers)


def test_delivery_is_marked_exactly_once_under_a_race(
    maker: Maker, people: list[int], picture: str
) -> None:
    job_id = submit(maker, people[0], picture)
    token = token_of(claim(maker))
    with maker.begin() as s:
        queue.complete(s, job_id, worker_id="w1", token=token, result_sha=picture, run_seconds=1)
    results: list[bool] = []

    def deliver() -> None:
        with maker.begin() as s:
            results.append(queue.mark_delivered(s, job_id))

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 4 + [True]


def test_a_queued_or_running_job_cannot_be_marked_delivered(
    maker: Maker, people: list[int], picture: str
) -> None:
    job_id = submit(maker, people[0], picture)
    with maker.begin() as s:
        assert queue.mark_delivered(s, job_id) is False
        assert [j.id for j in queue.active_jobs(s)] == [job_id]


def test_images_are_stored_once_by_content(maker: Maker) -> None:
    data = b"\xff\xd8 some picture bytes"
    errors: list[BaseException] = []
    shas: list[str] = []

    def put() -> None:
        try:
            with maker.begin() as s:
                shas.append(blobs.put_image(s, data, mime="image/jpeg", width=3, height=2))
        except BaseException as e:  # collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(shas)) == 1
    with maker() as s:
        assert s.scalar(select(func.count()).select_from(Image)) == 1
        assert blobs.get_image(s, shas[0]) == data
        with pytest.raises(KeyError):
            blobs.get_image(s, "0" * 64)


def test_a_job_needs_a_style(maker: Maker, people: list[int], picture: str) -> None:
    with maker.begin() as s, pytest.raises(ValueError, match="style"):
        queue.submit(s, user_id=people[0], chat_id=1, content_sha=picture, styles=[], params=PARAMS)


def test_prune_forgets_only_what_nobody_needs(maker: Maker, people: list[int]) -> None:
    old, month = utcnow() - timedelta(days=40), timedelta(days=30)
    with maker.begin() as s:
        sha = {
            name: blobs.put_image(s, name.encode(), mime="image/jpeg", width=1, height=1)
            for name in ("answered", "result", "unanswered", "waiting", "session", "orphan")
        }
        s.execute(update(Image).values(created_at=old))
        recent = blobs.put_image(s, b"recent orphan", mime="image/jpeg", width=1, height=1)
        s.add(ChatSession(user_id=people[0], chat_id=people[0], content_sha=sha["session"]))
        registry.register_worker(s, worker_id="gone", hostname="h", pid=1, device="cpu", now=old)
        registry.register_worker(s, worker_id="alive", hostname="h", pid=2, device="cpu")
    answered = submit(maker, people[0], sha["answered"])
    unanswered = submit(maker, people[1], sha["unanswered"])
    waiting = submit(maker, people[2], sha["waiting"])
    with maker.begin() as s:
        for job_id, delivered in ((answered, old), (unanswered, None)):
            row = s.get(Job, job_id)
            assert row is not None
            row.state, row.finished_at, row.delivered_at = JobState.DONE, old, delivered
            row.result_sha = sha["result"] if job_id == answered else sha["unanswered"]
        row = s.get(Job, waiting)
        assert row is not None
        row.created_at = old
        # Sent again just now: the picture is about to be used, so it stays.
        blobs.put_image(s, b"orphan", mime="image/jpeg", width=1, height=1)

    with maker.begin() as s:
        pruned = prune.prune(s, older_than=month, now=utcnow())
    assert pruned == prune.Pruned(jobs=1, images=2, workers=1)
    with maker() as s:
        assert set(s.scalars(select(Job.id))) == {unanswered, waiting}
        kept = set(s.scalars(select(Image.sha256)))
        assert kept == {sha[n] for n in ("unanswered", "waiting", "session", "orphan")} | {recent}
        assert list(s.scalars(select(WorkerRow.id))) == ["alive"]
    with maker.begin() as s:
        assert prune.prune(s, older_than=month, now=utcnow()) == prune.Pruned(0, 0, 0)


def test_positions_of_the_whole_queue_match_each_jobs_position(
    maker: Maker, people: list[int], picture: str
) -> None:
    jobs = [submit(maker, person, picture) for person in (people[0], people[0], people[1])]
    with maker() as s:
        places = queue.positions(s)
        assert places == {job_id: queue.position(s, job_id) for job_id in jobs}
    # One person's second job goes after the other person's first (fair order).
    assert [places[j] for j in jobs] == [1, 3, 2]
