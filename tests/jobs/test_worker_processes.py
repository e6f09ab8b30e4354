"""Real ``python -m engine work`` processes with the real engine on tiny pictures.

Several workers share one queue and run every job exactly once; a worker killed with SIGKILL
in the middle of a job loses nothing (another takes the job once the lease passes); SIGTERM
hands the job back and exits 0. Slow: each process loads torch and VGG-19.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from engine.contract import PhotoParams
from engine.jobs import blobs, queue
from engine.jobs.models import Job, User
from engine.jobs.models import Worker as WorkerRow
from tests.support.jobs import Maker, job
from tests.support.pictures import gradient_png

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = PhotoParams(preset="fast", size=64, steps=1, seed=1)


def seed_jobs(
    maker: Maker, count: int, *, params: PhotoParams, size: tuple[int, int] = (64, 64)
) -> list[int]:
    """``count`` jobs from a handful of people, all painting one picture in one style."""
    with maker.begin() as s:
        people = [User(id=1000 + i) for i in range(7)]
        s.add_all(people)
        s.flush()
        content = blobs.put_image(
            s, gradient_png(*size, seed=1), mime="image/png", width=size[0], height=size[1]
        )
        style_png = gradient_png(64, 64, seed=2)
        style = blobs.put_image(s, style_png, mime="image/png", width=64, height=64)
        return [
            queue.submit(
                s,
                user_id=people[i % len(people)].id,
                chat_id=1,
                content_sha=content,
                styles=[(style, 1.0)],
                params=params,
            ).id
            for i in range(count)
        ]


class Workers:
    """Starts ``python -m engine work`` processes against one database, logs in files."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "DATABASE_URL": self.url,
            "ENGINE_DEVICE": "cpu",
            "WORKER_POLL_SECONDS": "0.05",
            "OMP_NUM_THREADS": "1",  # several workers share two cores: no oversubscription
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        with open(self.log_dir / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "engine", "work", "--id", name, *args],
                cwd=REPO_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> dict[str, int]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return {name: p.wait(timeout=60) for name, p in self.processes.items()}

    def kill_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(db_url, tmp_path)
    yield started
    started.kill_all()


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n{workers.log(n)[-3000:]}" for n in workers.processes)
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
        time.sleep(0.1)


def test_work_refuses_a_database_without_the_schema(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}
    done = subprocess.run(
        [sys.executable, "-m", "engine", "work", "--once"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "run `python -m engine migrate`" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_four_workers_run_two_hundred_jobs_each_exactly_once(
    maker: Maker, workers: Workers, backend: str
) -> None:
    ids = seed_jobs(maker, 200, params=TINY)
    names = [f"{backend}-w{i}" for i in range(4)]
    started = time.monotonic()
    for name in names:
        workers.start(name)

    def all_finished() -> bool:
        with maker() as s:
            states = s.scalars(select(Job.state).where(Job.id.in_(ids))).all()
        return all(state in ("done", "failed") for state in states)

    wait_for(all_finished, timeout=240, what="200 jobs to finish", workers=workers)
    elapsed = time.monotonic() - started
    codes = workers.stop_all()
    assert codes == dict.fromkeys(names, 0)

    with maker() as s:
        jobs = s.scalars(select(Job).where(Job.id.in_(ids))).all()
        rows = {w.id: w for w in s.scalars(select(WorkerRow))}
    assert [j.state for j in jobs] == ["done"] * 200, {j.error for j in jobs}
    assert all(j.attempts == 1 and j.result_sha for j in jobs)  # claimed once, finished once
    assert {j.worker_id for j in jobs} <= set(names)
    assert sum(rows[n].jobs_done for n in names) == 200
    assert all(rows[n].stopped_at is not None for n in names)
    # The workers' own logs, an independent record: every job started exactly once.
    starts = Counter(
        int(m) for n in names for m in re.findall(r"job (\d+): starting", workers.log(n))
    )
    assert starts == Counter(ids)
    per_worker = Counter(j.worker_id for j in jobs)
    print(f"\n{backend}: 200 jobs, 4 workers, {elapsed:.1f} s; per worker {dict(per_worker)}")


def _running_with_progress(maker: Maker, job_id: int) -> Callable[[], bool]:
    def check() -> bool:
        found = job(maker, job_id)
        return found.state == "running" and found.progress > 0

    return check


FAST_LEASE = {
    "JOB_LEASE_SECONDS": "5",
    "JOB_HEARTBEAT_SECONDS": "1",
    "JOB_PROGRESS_SECONDS": "0.2",
}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_worker_loses_nothing(maker: Maker, workers: Workers) -> None:
    params = PhotoParams(preset="fast", size=128, steps=40, seed=3)
    (job_id,) = seed_jobs(maker, 1, params=params, size=(128, 96))
    first = workers.start("A", **FAST_LEASE)
    wait_for(_running_with_progress(maker, job_id), timeout=120, what="A to start", workers=workers)
    first.send_signal(signal.SIGKILL)
    first.wait()
    orphan = job(maker, job_id)
    assert (orphan.state, orphan.worker_id, orphan.attempts) == ("running", "A", 1)

    second = workers.start("B", **FAST_LEASE)

    def finished() -> bool:
        return job(maker, job_id).state in ("done", "failed")

    wait_for(finished, timeout=180, what="B to finish the job", workers=workers)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0
    done = job(maker, job_id)
    assert (done.state, done.worker_id, done.attempts) == ("done", "B", 2), done.error
    with maker.begin() as s:
        assert done.result_sha is not None
        result = Image.open(io.BytesIO(blobs.get_image(s, done.result_sha)))
        assert (result.format, result.size) == ("JPEG", (128, 96))
        assert queue.mark_delivered(s, job_id) is True
    with maker.begin() as s:
        assert queue.mark_delivered(s, job_id) is False
    assert "lease of A expired" in workers.log("B")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_workers_video_resumes_from_its_painted_frames(
    maker: Maker, workers: Workers, tmp_path: Path
) -> None:
    """SIGKILL in the middle of a clip: the frames painted so far stay stored, and the next
    worker paints only the rest; the clip comes out whole."""
    import av

    from engine.contract import VideoParams
    from engine.jobs import clip_frames
    from tests.video.clips import moving_square, write_test_clip

    frames = 16
    clip = write_test_clip(tmp_path / "clip.mp4", moving_square(frames, 64, 48), fps=8)
    with maker.begin() as s:
        s.add(User(id=1000))
        s.flush()
        content = blobs.put_image(s, clip.read_bytes(), mime="video/mp4", width=64, height=48)
        style = blobs.put_image(
            s, gradient_png(64, 64, seed=2), mime="image/png", width=64, height=64
        )
        job_id = queue.submit(
            s,
            user_id=1000,
            chat_id=1,
            content_sha=content,
            styles=[(style, 1.0)],
            params=VideoParams(preset="fast", steps=6, later_steps=6, seed=3),
        ).id

    def stored() -> int:
        with maker() as s:
            return clip_frames.count(s, job_id)

    first = workers.start("A", **FAST_LEASE)
    wait_for(lambda: stored() >= 3, timeout=120, what="A to paint 3 frames", workers=workers)
    first.send_signal(signal.SIGKILL)
    first.wait()
    left = stored()
    assert 3 <= left < frames, "the kill came too late to show anything"
    assert job(maker, job_id).state == "running"  # as far as the queue knows

    second = workers.start("B", **FAST_LEASE)
    wait_for(
        lambda: job(maker, job_id).state in ("done", "failed"),
        timeout=180,
        what="B to finish the clip",
        workers=workers,
    )
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0
    done = job(maker, job_id)
    assert (done.state, done.worker_id, done.attempts) == ("done", "B", 2), done.error
    # B was handed A's frames and painted only the rest.
    log = workers.log("B")
    assert f"resuming from {left} frames painted before" in log
    assert f"{frames} frames at 64x48, {left} done already" in log
    assert f"{frames} frames ({left} painted before)" in log
    with maker() as s:
        assert done.result_sha is not None
        data = blobs.get_image(s, done.result_sha)
        assert clip_frames.count(s, job_id) == 0
    with av.open(io.BytesIO(data), mode="r") as film:
        assert sum(1 for _ in film.decode(video=0)) == frames


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigterm_hands_the_job_back_and_exits_0(maker: Maker, workers: Workers) -> None:
    params = PhotoParams(preset="fast", size=128, steps=2000, seed=4)
    (job_id,) = seed_jobs(maker, 1, params=params, size=(128, 96))
    process = workers.start("T", WORKER_CPU_NICE="7", **FAST_LEASE)
    wait_for(_running_with_progress(maker, job_id), timeout=90, what="T to start", workers=workers)
    # On the CPU the worker yields to the bot: it runs at a lower priority than it started.
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == min(ours + 7, 19)
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, workers.log("T")
    took = time.monotonic() - asked
    back = job(maker, job_id)
    assert (back.state, back.attempts, back.worker_id, back.progress) == ("queued", 0, None, 0)
    with maker() as s:
        row = s.get(WorkerRow, "T")
        assert row is not None and row.stopped_at is not None
    assert took < 10, f"took {took:.1f} s to stop"


@pytest.mark.gpu
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["sqlite"])  # the database is beside the point here
def test_a_worker_on_the_gpu_paints_a_queued_job(maker: Maker, workers: Workers) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    params = PhotoParams(preset="fast", size=384, steps=60, seed=5)
    (job_id,) = seed_jobs(maker, 1, params=params, size=(512, 384))
    process = workers.start("G", ENGINE_DEVICE="cuda")

    def finished() -> bool:
        return job(maker, job_id).state in ("done", "failed")

    wait_for(finished, timeout=150, what="G to finish the job", workers=workers)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, workers.log("G")
    done = job(maker, job_id)
    assert (done.state, done.worker_id, done.attempts) == ("done", "G", 1), done.error
    with maker() as s:
        assert done.result_sha is not None
        result = Image.open(io.BytesIO(blobs.get_image(s, done.result_sha)))
        assert (result.format, result.size) == ("JPEG", (384, 288))
    assert "onto cuda" in workers.log("G")
