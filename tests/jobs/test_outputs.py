"""A running job's preview and time-lapse frames, on both databases: what the worker keeps,
when it writes it, that it is fenced like every other write, and that it goes with the job.

The run is a cheap stand-in that reports its steps with a snapshot (a drawn JPEG whose colour
says the step), so the tests check the worker's side; tests/test_bridge.py has the real engine.
"""

from __future__ import annotations

import io
import itertools
import time
import types
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from engine.contract import FRAME_SIDE, MAX_FRAMES, PREVIEW_SIDE, frame_steps
from engine.jobs import outputs, prune, queue
from engine.jobs import worker as worker_module
from engine.jobs.models import Image as ImageRow
from engine.jobs.models import Job, JobFilm, JobFrame, JobPreview, utcnow
from engine.jobs.worker import JobInput, JobResult, Progress, RunJob, Stopped
from tests.support.jobs import Maker, claim, job, make_worker, submit, token_of
from tests.support.pictures import encoded

pytestmark = pytest.mark.timeout(60)

# The stand-in run's steps take no time, so any snapshot would be over the worker's budget
# for them; these tests count every planned frame (the budget has a test of its own).
FREE = float("inf")

RESULT = JobResult(data=b"result bytes", mime="image/jpeg", width=4, height=3)


def drawn(step: int, side: int, job_id: int = 0) -> outputs.Picture:
    """The 'picture' after ``step`` of a job: its red channel is the step, its green the job,
    its size ``side`` x side/2."""
    colour = (step % 256, job_id * 40 % 256, 0)
    data = encoded(Image.new("RGB", (side, side // 2), colour), quality=95)
    return outputs.Picture(data, side, side // 2)


def painting(
    total: int,
    *,
    during: list[int] | None = None,
    maker: Maker | None = None,
    pause: float = 0.0,
) -> RunJob:
    """A run of ``total`` steps that shows itself; with ``during``, it notes after every step
    how many previews the job has had (as the bot would see them); ``pause``: seconds a step
    takes (the lease's thread writes between them)."""

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        for step in range(1, total + 1):

            def snapshot(side: int, step: int = step) -> outputs.Picture:
                return drawn(step, side, inputs.job_id)

            reason = progress(step / total, 1.0, step=step, total=total, snapshot=snapshot)
            assert reason is None
            time.sleep(pause)
            if during is not None and maker is not None:
                with maker() as s:
                    during.append(outputs.preview_seqs(s, [inputs.job_id]).get(inputs.job_id, 0))
        return RESULT

    return run


def written_preview(maker: Maker, job_id: int, seconds: float = 5.0) -> outputs.Preview | None:
    """The job's preview once the lease's thread has written it (None if it never is)."""
    deadline = time.monotonic() + seconds
    while True:
        with maker() as s:
            preview = outputs.preview_of(s, job_id)
        if preview is not None or time.monotonic() > deadline:
            return preview
        time.sleep(0.01)


def frame_rows(maker: Maker, job_id: int) -> list[tuple[int, int]]:
    with maker() as s:
        rows = s.execute(
            select(JobFrame.position, JobFrame.step)
            .where(JobFrame.job_id == job_id)
            .order_by(JobFrame.position)
        )
        return [(position, step) for position, step in rows]


def test_frames_are_spread_evenly_over_the_steps_and_the_last_is_the_last_step(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    job_id = submit(maker, people[0], picture)
    worker = make_worker(maker, tmp_path, painting(100), preview_seconds=3600, output_budget=FREE)
    worker.run(once=True)
    rows = frame_rows(maker, job_id)
    assert [step for _, step in rows] == list(frame_steps(100))
    assert len(rows) == MAX_FRAMES and rows[-1] == (MAX_FRAMES, 100)
    gaps = {b - a for (_, a), (_, b) in itertools.pairwise(rows)}
    assert gaps <= {2, 3}  # 100 steps over 48 frames: every second or third step
    with maker() as s:
        frames = outputs.frames_of(s, job_id)
    first, last = (Image.open(io.BytesIO(data)).convert("RGB") for data in (frames[0], frames[-1]))
    assert first.size == (FRAME_SIDE, FRAME_SIDE // 2)
    red = first.getchannel("R").getpixel((5, 5)), last.getchannel("R").getpixel((5, 5))
    assert red == (pytest.approx(rows[0][1], abs=3), pytest.approx(100, abs=3))  # their steps
    assert worker.last_costs is not None and worker.last_costs.frames == MAX_FRAMES
    assert worker.last_costs.frame_bytes == sum(len(f) for f in frames)


class Clock:
    """The worker's clock in these tests: time passes only when the stand-in run says so, so
    what a step and a snapshot cost is exact, however busy the machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def timed_painting(
    clock: Clock, total: int, step_seconds: float, snapshot_seconds: float
) -> RunJob:
    """A run whose steps and snapshots take the given time on ``clock``."""

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        def snapshot(side: int) -> outputs.Picture:
            clock.sleep(snapshot_seconds)
            return drawn(1, 8, inputs.job_id)

        for step in range(1, total + 1):
            clock.sleep(step_seconds)
            progress(step / total, 1.0, step=step, total=total, snapshot=snapshot)
        return RESULT

    return run


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    fake = types.SimpleNamespace(monotonic=clock, perf_counter=clock, sleep=clock.sleep)
    monkeypatch.setattr(worker_module, "time", fake)
    return clock


def thinned_run(
    maker: Maker, user: int, picture: str, tmp_path: Path, run: RunJob, total: int
) -> tuple[list[int], float, float]:
    """Run it; check the frames are thinned evenly; give their positions (the last frame's
    left out), the seconds spent on snapshots and the run's seconds."""
    job_id = submit(maker, user, picture)
    worker = make_worker(maker, tmp_path, run, preview_seconds=3600)
    worker.run(once=True)
    rows = frame_rows(maker, job_id)
    planned = frame_steps(total)
    assert rows[-1] == (MAX_FRAMES, total)  # the last frame always stays
    assert all(planned[p - 1] == step for p, step in rows)  # each at its planned step
    positions = [position for position, _ in rows[:-1]]
    gaps = [b - a for a, b in itertools.pairwise(positions)]
    assert gaps == sorted(gaps) and gaps[-1] > 1  # thinned, only ever more, never back
    stride = gaps[-1]
    assert positions[-1] % stride == 0 and positions[-2] % stride == 0  # every n-th one
    costs = worker.last_costs
    assert costs is not None
    return positions, costs.seconds, job(maker, job_id).run_seconds or 0.0


def test_where_snapshots_are_dear_frames_are_thinned_evenly_to_keep_within_the_budget(
    maker: Maker, people: list[int], picture: str, tmp_path: Path, clock: Clock
) -> None:
    """Steps of 4 ms and snapshots of 1 ms (a fast GPU's ratio): 48 frames would take 5% of
    the run; the worker keeps within its 3% by taking every other planned frame."""
    run = timed_painting(clock, 250, step_seconds=0.004, snapshot_seconds=0.001)
    positions, spent, run_seconds = thinned_run(maker, people[0], picture, tmp_path, run, 250)
    assert positions == list(range(2, MAX_FRAMES, 2))
    assert spent <= 0.03 * run_seconds


def test_as_the_steps_speed_up_the_frames_thin_out_and_those_taken_stay(
    maker: Maker, people: list[int], picture: str, tmp_path: Path, clock: Clock
) -> None:
    """The first steps are slow (a GPU warming up), then fast: every planned frame while a
    snapshot is cheap next to the run so far, every other one, then every 4th as the run's
    pace is learnt; those taken stay (the film's start is a little denser)."""
    steps = iter([0.01] * 10 + [0.002] * 240)

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        def snapshot(side: int) -> outputs.Picture:
            clock.sleep(0.001)
            return drawn(1, 8, inputs.job_id)

        for step in range(1, 251):
            clock.sleep(next(steps))
            progress(step / 250, 1.0, step=step, total=250, snapshot=snapshot)
        return RESULT

    positions, _, _ = thinned_run(maker, people[0], picture, tmp_path, run, 250)
    gaps = [b - a for a, b in itertools.pairwise(positions)]
    assert positions[:3] == [1, 2, 3] and 2 in gaps and gaps[-1] == 4


def test_however_dear_the_snapshots_a_quarter_of_the_frames_stay(
    maker: Maker, people: list[int], picture: str, tmp_path: Path, clock: Clock
) -> None:
    """Steps of 2 ms and snapshots of 3 ms: even 12 frames are over the budget, but fewer
    would no longer be a film; every 4th planned frame is kept, no fewer."""
    run = timed_painting(clock, 200, step_seconds=0.002, snapshot_seconds=0.003)
    positions, _, _ = thinned_run(maker, people[0], picture, tmp_path, run, 200)
    assert positions == list(range(4, MAX_FRAMES, 4))


def test_a_short_run_keeps_a_frame_of_every_step(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    job_id = submit(maker, people[0], picture)
    make_worker(maker, tmp_path, painting(5), output_budget=FREE).run(once=True)
    assert frame_rows(maker, job_id) == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]


def test_the_preview_is_written_at_most_every_preview_seconds_and_dropped_when_done(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    seen: list[int] = []
    job_id = submit(maker, people[0], picture)
    worker = make_worker(
        maker, tmp_path, painting(30, during=seen, maker=maker, pause=0.02), preview_seconds=3600
    )
    worker.run(once=True)
    # The first step shows at once (as soon as the lease's thread has written it, a few
    # steps later at the most); the next would be due an hour later.
    assert seen == sorted(seen) and seen[-1] == 1 and seen.count(1) >= 20
    assert worker.last_costs is not None and worker.last_costs.previews == 1
    with maker() as s:
        assert s.get(JobPreview, job_id) is None  # done: the result is shown from now on
    assert job(maker, job_id).state == "done"

    seen.clear()
    again = submit(maker, people[0], picture)
    worker = make_worker(
        maker, tmp_path, painting(30, during=seen, maker=maker, pause=0.02), preview_seconds=1e-9
    )
    worker.run(once=True)
    # A preview every step, when asked for that often: each write takes the latest one (the
    # thread writes every 0.05 s at most, so some are replaced before they go out).
    assert seen == sorted(seen) and seen[-1] >= 5
    assert worker.last_costs is not None and worker.last_costs.previews >= seen[-1]
    assert job(maker, again).state == "done"


def test_the_preview_is_the_picture_now_small(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    shown: list[outputs.Preview | None] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        progress(0.5, 3.0, step=7, total=14, snapshot=lambda side: drawn(7, side))
        shown.append(written_preview(maker, inputs.job_id))
        return RESULT

    submit(maker, people[0], picture)
    make_worker(maker, tmp_path, run).run(once=True)
    (preview,) = shown
    assert preview is not None and (preview.seq, preview.step, preview.total) == (1, 7, 14)
    decoded = Image.open(io.BytesIO(preview.picture.data))
    assert decoded.format == "JPEG" and decoded.size == (PREVIEW_SIDE, PREVIEW_SIDE // 2)


def test_previews_and_frames_can_be_turned_off(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    seen: list[int] = []
    job_id = submit(maker, people[0], picture)
    make_worker(
        maker,
        tmp_path,
        painting(10, during=seen, maker=maker),
        preview_seconds=0,
        timelapse_frames=0,
    ).run(once=True)
    assert seen == [0] * 10 and frame_rows(maker, job_id) == []


def test_a_worker_whose_lease_was_lost_writes_no_preview_or_frames(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    job_id = submit(maker, people[0], picture)
    reasons: list[object] = []
    claims: list[str] = []

    def run(inputs: JobInput, progress: Progress) -> JobResult:
        with maker.begin() as s:  # our lease passed and the job went again to a worker of
            # our very name: only the claim token tells the two apart
            claims.append(token_of(s, inputs.job_id))
            queue.release(s, inputs.job_id, worker_id="w1", token=claims[0])
            assert queue.claim(s, worker_id="w1", lease_seconds=30) is not None
        for step in range(1, 1001):  # ten seconds at most: the lease's writes notice at once
            reason = progress(
                step / 1000, 0.0, step=step, total=1000, snapshot=lambda side: drawn(1, side)
            )
            if reason is not None:
                reasons.append(reason)
                raise Stopped(reason)
            time.sleep(0.01)
        return RESULT

    make_worker(maker, tmp_path, run, preview_seconds=0.001, output_budget=FREE).run(once=True)
    assert reasons == [queue.StopReason.LEASE_LOST]
    with maker() as s:
        assert s.get(JobPreview, job_id) is None
        assert (
            outputs.record(
                s,
                job_id,
                worker_id="w1",
                token=claims[0],
                frames=[outputs.Frame(1, 1, drawn(1, 8))],
            )
            is False
        )
    assert frame_rows(maker, job_id) == []


def test_a_new_attempt_drops_the_frames_an_earlier_one_left(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    job_id = submit(maker, people[0], picture)
    taken = claim(maker, "dead-worker")
    assert taken is not None
    with maker.begin() as s:  # the first attempt kept two frames of a 4-step schedule...
        frames = [outputs.Frame(p, p * 50, drawn(p * 50, 16)) for p in (1, 2)]
        assert outputs.record(
            s,
            job_id,
            worker_id="dead-worker",
            token=str(taken.claim_token),
            frames=frames,
            fresh=True,
        )
    with maker.begin() as s:  # ...and died; its lease passed
        assert queue.reclaim_expired(s, now=utcnow() + timedelta(hours=1)) == 1
    make_worker(maker, tmp_path, painting(3), output_budget=FREE).run(once=True)
    assert frame_rows(maker, job_id) == [(1, 1), (2, 2), (3, 3)]


def test_outputs_go_with_the_job_when_it_is_pruned(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    old, kept = submit(maker, people[0], picture), submit(maker, people[1], picture)
    make_worker(maker, tmp_path, painting(4), output_budget=FREE).run(max_jobs=2)
    with maker.begin() as s:
        for job_id in (old, kept):
            assert outputs.put_film(s, job_id, f"film {job_id}".encode(), width=16, height=8)
            assert queue.mark_delivered(s, job_id)
        before = s.scalar(select(func.count()).select_from(ImageRow))
    with maker.begin() as s:
        # Only the first job is old enough; every picture was stored long ago too.
        s.execute(update(Job).where(Job.id == old).values(finished_at=utcnow() - timedelta(40)))
        for row in s.scalars(select(ImageRow)):
            row.created_at = utcnow() - timedelta(days=40)
    with maker.begin() as s:
        pruned = prune.prune(s, older_than=timedelta(days=30))
    assert pruned.jobs == 1
    with maker() as s:
        assert s.scalar(select(func.count()).where(JobFrame.job_id == old)) == 0
        assert s.get(JobFilm, old) is None
        assert len(outputs.frames_of(s, kept)) == 4
        assert outputs.film_of(s, kept) == f"film {kept}".encode()
        after = s.scalar(select(func.count()).select_from(ImageRow))
    # The old job's four frames and its film went; the photo, the kept job's frames, its film
    # and the shared result stayed.
    assert before is not None and after == before - 5
