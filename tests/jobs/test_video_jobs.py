"""A video job in the worker loop, on both databases: its painted frames are kept as they come,
a worker that dies leaves them to the next one (which paints only the rest), a stale worker's
late frame is refused, and a cancel stops it between frames.

The run is a stand-in that "paints" frame i as the bytes ``b"frame i"`` and reports each as a
video run does (``finished=``); tests/test_bridge.py's video test runs the real engine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from engine.contract import ANIMATION_MIME, JobKind, VideoParams
from engine.jobs import blobs, clip_frames, outputs, queue
from engine.jobs.models import ClipFrame, Job, JobState, utcnow
from engine.jobs.queue import StopReason
from engine.jobs.worker import JobInput, JobResult, Progress, Stopped
from tests.support.jobs import Maker, claim, job, make_worker, submit, token_of

pytestmark = pytest.mark.timeout(60)

FRAMES = 6
VIDEO = VideoParams(preset="fast")


class _Killed(BaseException):
    """The worker process dies here: nothing after it is written (not even a failure)."""


def _painted(index: int) -> clip_frames.Finished:
    return clip_frames.Finished(index=index, data=f"frame {index}".encode(), width=4, height=2)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _stored(maker: Maker, job_id: int) -> dict[int, bytes]:
    with maker() as s:
        return clip_frames.finished(s, job_id)


def _wait_until_stored(maker: Maker, job_id: int, index: int) -> None:
    _wait_for(lambda: index in _stored(maker, job_id), f"frame {index} stored")


class _FakeVideoRun:
    """Paints the frames not yet done, in order, as a video run reports them; ``after`` is
    called with each frame index once that frame has been reported (and, where ``wait`` says
    so, stored)."""

    def __init__(
        self,
        maker: Maker,
        *,
        after: Callable[[JobInput, int], None] = lambda inputs, index: None,
        wait: Callable[[int], bool] = lambda index: True,
    ) -> None:
        self.maker, self.after, self.wait = maker, after, wait
        self.given: list[set[int]] = []  # the frames each run was handed as done
        self.painted: list[int] = []  # the frames this stand-in painted, all runs together

    def __call__(self, inputs: JobInput, progress: Progress) -> JobResult:
        assert inputs.kind is JobKind.VIDEO
        self.given.append(set(inputs.frames))
        frames = dict(inputs.frames)
        for index in range(FRAMES):
            if index in frames:
                continue
            frame = _painted(index)
            frames[index] = frame.data
            self.painted.append(index)
            reason = progress(
                (index + 1) / FRAMES,
                None,
                step=index + 1,
                total=FRAMES,
                snapshot=lambda side: outputs.Picture(b"small", 4, 2),
                finished=frame,
            )
            if reason is not None:
                raise Stopped(reason)
            if self.wait(index):
                _wait_until_stored(self.maker, inputs.job_id, index)
            self.after(inputs, index)
        # The "clip": its frames in order, as the real runner's write_clip would join them.
        clip = json.dumps([frames[i].decode() for i in range(FRAMES)]).encode()
        return JobResult(data=clip, mime=ANIMATION_MIME, width=4, height=2)


def _lease_passes(maker: Maker, job_id: int) -> None:
    """As if the lease had run out long ago (its worker gone quiet)."""
    with maker.begin() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(minutes=5))
        )


def _clip_of(maker: Maker, job_id: int) -> list[str]:
    done = job(maker, job_id)
    assert done.state == JobState.DONE, done.error
    assert done.result_sha is not None
    with maker() as s:
        clip: list[str] = json.loads(blobs.get_image(s, done.result_sha))
    return clip


def test_a_killed_workers_video_job_resumes_from_its_stored_frames(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    killed_after = 2  # the first worker paints frames 0, 1 and 2, then dies

    def die(inputs: JobInput, index: int) -> None:
        if index == killed_after:
            raise _Killed

    first = _FakeVideoRun(maker, after=die)
    job_id = submit(maker, people[0], picture, params=VIDEO)
    with pytest.raises(_Killed):
        make_worker(maker, tmp_path, first).run(once=True)
    assert first.painted == [0, 1, 2]
    assert job(maker, job_id).state == JobState.RUNNING  # dead, as far as the queue knows
    assert set(_stored(maker, job_id)) == {0, 1, 2}

    _lease_passes(maker, job_id)
    second = _FakeVideoRun(maker)
    worker = make_worker(maker, tmp_path, second)
    worker.worker_id = "w2"
    assert worker.run(once=True) == 1

    assert second.given == [{0, 1, 2}]  # the stored frames were handed over as done...
    assert second.painted == [3, 4, 5]  # ...and only the rest was painted
    assert _clip_of(maker, job_id) == [f"frame {i}" for i in range(FRAMES)]
    assert job(maker, job_id).attempts == 2
    assert _stored(maker, job_id) == {}  # the clip is made: its frames are dropped


def test_a_stale_workers_late_frame_is_refused(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    """The first worker's lease passes after frame 1 and another worker claims the job; the
    first one's frames from 2 on, painted late, must not land among the new claim's."""
    job_id = submit(maker, people[0], picture, params=VIDEO)

    def lose_the_lease(inputs: JobInput, index: int) -> None:
        if index == 1:
            _lease_passes(maker, inputs.job_id)
            with maker.begin() as s:
                assert queue.reclaim_expired(s) == 1
            again = claim(maker, "w2")
            assert again is not None and again.id == inputs.job_id
        elif index > 1:
            time.sleep(0.2)  # time for the lease's thread to try writing the late frame

    stale = _FakeVideoRun(maker, after=lose_the_lease, wait=lambda index: index <= 1)
    make_worker(maker, tmp_path, stale).run(once=True)

    held = job(maker, job_id)
    assert (held.state, held.worker_id, held.attempts) == (JobState.RUNNING, "w2", 2)
    assert held.result_sha is None
    with maker() as s:
        rows = s.execute(
            select(ClipFrame.frame, ClipFrame.attempt).where(ClipFrame.job_id == job_id)
        )
        kept = {frame: attempt for frame, attempt in rows}
    assert kept == {0: 1, 1: 1}  # the frames painted under the first claim, and no later one

    with maker.begin() as s:
        late = clip_frames.store(
            s, job_id, worker_id="w1", token="an old claim", frames=[_painted(2)]
        )
        assert late is False
        assert clip_frames.store(
            s, job_id, worker_id="w2", token=token_of(s, job_id), frames=[_painted(2)]
        )
    assert _stored(maker, job_id) == {0: b"frame 0", 1: b"frame 1", 2: b"frame 2"}


def test_a_cancelled_video_stops_between_frames(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    """The owner cancels while frame 2 is painted: the worker learns it with the progress of
    frame 2 (the cancel flag comes back with a progress write), so the report of frame 3 is
    answered "stop"; nothing after it is painted, and the job ends cancelled, not failed."""
    job_id = submit(maker, people[0], picture, params=VIDEO)

    def cancel_while_painting_frame_2(inputs: JobInput, index: int) -> None:
        if index == 1:
            with maker.begin() as s:
                assert queue.cancel(s, inputs.job_id, user_id=people[0])
        elif index >= 2:
            time.sleep(0.3)  # painting the next frame: time for the lease's write to answer

    run = _FakeVideoRun(maker, after=cancel_while_painting_frame_2, wait=lambda index: index <= 1)
    make_worker(maker, tmp_path, run).run(once=True)
    cancelled = job(maker, job_id)
    assert (cancelled.state, cancelled.error, cancelled.result_sha) == (
        JobState.CANCELLED,
        None,
        None,
    )
    assert run.painted == [0, 1, 2, 3]  # frame 3's report was answered: stop
    assert _stored(maker, job_id) == {}  # no attempt will resume from them


def test_a_video_frames_preview_is_the_frame_just_painted(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    job_id = submit(maker, people[0], picture, params=VIDEO)
    shown: list[tuple[int, int]] = []

    def look(inputs: JobInput, index: int) -> None:
        def preview_of_this_frame() -> bool:
            with maker() as s:
                preview = outputs.preview_of(s, inputs.job_id)
            return preview is not None and preview.step == index + 1

        _wait_for(preview_of_this_frame, f"the preview of frame {index}")
        with maker() as s:
            preview = outputs.preview_of(s, inputs.job_id)
            assert preview is not None
            shown.append((preview.step, preview.total))

    run = _FakeVideoRun(maker, after=look)
    worker = make_worker(maker, tmp_path, run, preview_seconds=1e-9)
    worker.run(once=True)
    assert shown == [(i, FRAMES) for i in range(1, FRAMES + 1)]
    with maker() as s:
        assert outputs.frame_counts(s, [job_id]) == {}  # no time-lapse for a video
    assert len(_clip_of(maker, job_id)) == FRAMES


def test_a_video_that_fails_for_good_drops_its_frames(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    job_id = submit(maker, people[0], picture, params=VIDEO, max_attempts=2)

    def fail_from_frame_2_on(inputs: JobInput, index: int) -> None:
        if index >= 2:
            raise RuntimeError("the engine broke")

    run = _FakeVideoRun(maker, after=fail_from_frame_2_on)
    make_worker(maker, tmp_path, run).run(once=True)
    assert job(maker, job_id).state == JobState.QUEUED  # tried again...
    assert set(_stored(maker, job_id)) == {0, 1, 2}  # ...from the frames painted
    make_worker(maker, tmp_path, run).run(once=True)
    assert run.given == [set(), {0, 1, 2}] and run.painted == [0, 1, 2, 3]
    assert job(maker, job_id).state == JobState.FAILED  # the last attempt failed too
    assert _stored(maker, job_id) == {}  # no attempt will resume from them


@pytest.mark.parametrize("end", ["cancelled in the queue", "out of attempts"])
def test_frames_a_dead_worker_left_go_once_no_attempt_will_resume(
    maker: Maker, people: list[int], picture: str, tmp_path: Path, end: str
) -> None:
    """A worker died and left frames; then its owner cancelled the job while it waited for
    another worker, or the job had had all its attempts: the frames go at once."""
    job_id = submit(maker, people[0], picture, params=VIDEO, max_attempts=1)

    def die(inputs: JobInput, index: int) -> None:
        if index == 1:
            raise _Killed

    with pytest.raises(_Killed):
        make_worker(maker, tmp_path, _FakeVideoRun(maker, after=die)).run(once=True)
    assert set(_stored(maker, job_id)) == {0, 1}
    _lease_passes(maker, job_id)
    if end == "cancelled in the queue":
        with maker.begin() as s:
            s.execute(update(Job).where(Job.id == job_id).values(max_attempts=2))
        with maker.begin() as s:
            assert queue.reclaim_expired(s) == 1
        assert job(maker, job_id).state == JobState.QUEUED
        assert set(_stored(maker, job_id)) == {0, 1}  # kept for the next attempt...
        with maker.begin() as s:
            assert queue.cancel(s, job_id, user_id=people[0])
        assert job(maker, job_id).state == JobState.CANCELLED
    else:
        with maker.begin() as s:
            assert queue.reclaim_expired(s) == 1
        assert job(maker, job_id).state == JobState.FAILED
    assert _stored(maker, job_id) == {}  # ...and gone once none will come


def test_frames_go_with_their_job_when_it_is_pruned(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    """Whatever else happened, the frames go with the job (the foreign key's cascade)."""
    from engine.jobs import prune

    job_id = submit(maker, people[0], picture, params=VIDEO)
    with maker.begin() as s:
        taken = queue.claim(s, worker_id="w1", lease_seconds=30)
        assert taken is not None and taken.id == job_id
        token = str(taken.claim_token)
        assert clip_frames.store(s, job_id, worker_id="w1", token=token, frames=[_painted(0)])
        assert queue.complete(
            s, job_id, worker_id="w1", token=token, result_sha=picture, run_seconds=1
        )
        assert queue.mark_delivered(s, job_id)
    assert set(_stored(maker, job_id)) == {0}  # (complete alone does not drop them)
    with maker.begin() as s:
        pruned = prune.prune(s, older_than=timedelta(0), now=utcnow() + timedelta(seconds=1))
    assert pruned.jobs == 1
    with maker() as s:
        assert s.scalar(select(ClipFrame.frame).where(ClipFrame.job_id == job_id)) is None


def test_a_worker_told_to_stop_keeps_the_frame_it_just_painted(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    """SIGTERM right after a frame is painted, before the lease's thread has written it: the
    frame goes into the transaction that hands the job back, so the next worker need not
    paint it again."""
    job_id = submit(maker, people[0], picture, params=VIDEO)
    worker = make_worker(maker, tmp_path, lambda inputs, progress: stop_after_frame_1(progress))

    def stop_after_frame_1(progress: Progress) -> JobResult:
        assert progress(0.1, None, step=1, total=FRAMES, finished=_painted(0)) is None
        _wait_until_stored(maker, job_id, 0)
        progress(0.2, None, step=2, total=FRAMES, finished=_painted(1))
        worker.stop()  # SIGTERM, before the lease's next write (0.05 s at the soonest)
        reason = progress(0.2, None)
        assert reason is StopReason.SHUTDOWN
        raise Stopped(reason)

    worker.run(once=True)
    back = job(maker, job_id)
    assert (back.state, back.attempts) == (JobState.QUEUED, 0)  # handed back, uncounted
    assert _stored(maker, job_id) == {0: b"frame 0", 1: b"frame 1"}
