"""Database outages: a PostgreSQL restart (a TCP proxy in front of the real server, cut and
restored), a host cut off (the proxy accepts and never answers), a SQLite lock held far past
the lock timeout. The worker and the bot's delivery loop carry on, say so in one line when the
outage starts and one when it ends, and lose nothing; a worker stopped meanwhile exits
cleanly; a command line gives up within its connect timeout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.store.people import ensure_person
from engine.jobs.db import DatabaseTimeouts, make_engine, make_sessionmaker
from engine.jobs.models import Worker as WorkerRow
from engine.jobs.worker import JobInput, JobResult, Progress, Worker
from tests.support.bot_harness import make_presets, running_bot
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.jobs import Maker, claim, complete, job, submit, worker_settings
from tests.support.pictures import draw_image
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(120)

POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]
QUICK = DatabaseTimeouts(connect=2, statement=5, lock=0.3)
RESULT = JobResult(data=draw_image(64, 48), mime="image/jpeg", width=64, height=48)
REPO = Path(__file__).resolve().parents[2]


def run(inputs: JobInput, progress: Progress) -> JobResult:
    return RESULT


@pytest.fixture
def proxy(db_url: str) -> Iterator[TcpProxy]:
    url = make_url(db_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as started:
        yield started


@contextlib.contextmanager
def through(proxy: TcpProxy, db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the database through the proxy, with quick timeouts."""
    engine = make_engine(proxy.url_for(db_url), timeouts=QUICK)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


class Running:
    """A worker loop in a thread; ``error`` is what it raised, if anything."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="worker")

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as e:
            self.error = e

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(30)


def until(condition: Callable[[], object], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def registered(maker: Maker, worker_id: str) -> bool:
    with maker() as s:
        return s.get(WorkerRow, worker_id) is not None


def lines(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def tracebacks(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.exc_info)


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_worker_rides_out_a_database_restart(
    maker: Maker,
    people: list[int],
    picture: str,
    proxy: TcpProxy,
    db_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with through(proxy, db_url) as worker_maker:
        worker = Worker(worker_maker, worker_settings(tmp_path), run_job=run, worker_id="w-restart")
        with Running(worker) as running:
            until(lambda: registered(maker, "w-restart"))
            with proxy.outage():
                until(lambda: worker.outage.down)
                time.sleep(1.5)  # a few tries, backing off
                job_id = submit(maker, people[0], picture)  # people keep coming meanwhile
            until(lambda: job(maker, job_id).state == "done")
            assert running.error is None and running.thread.is_alive()
    assert lines(caplog, "worker w-restart: database unreachable") == 1
    assert lines(caplog, "worker w-restart: database reachable again") == 1
    assert tracebacks(caplog) == 0


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_worker_stopped_while_the_database_is_down_exits_cleanly(
    maker: Maker, proxy: TcpProxy, db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Problem 9: the worker raised in its ``finally`` when the database was away."""
    with through(proxy, db_url) as worker_maker:
        worker = Worker(worker_maker, worker_settings(tmp_path), run_job=run, worker_id="w-stop")
        running = Running(worker).__enter__()
        until(lambda: registered(maker, "w-stop"))
        proxy.cut()
        until(lambda: worker.outage.down)
        stopped_at = time.monotonic()
        worker.stop()
        running.thread.join(30)
        assert not running.thread.is_alive()
        assert running.error is None, repr(running.error)
        assert time.monotonic() - stopped_at < 15
    assert lines(caplog, "could not record its stop") == 1


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_command_against_a_host_cut_off_gives_up_within_its_connect_timeout(
    proxy: TcpProxy, db_url: str
) -> None:
    """Problem 9: no connect timeout; a cut-off host hung until TCP gave up."""
    proxy.blackhole()
    env = {**os.environ, "DATABASE_URL": proxy.url_for(db_url), "DB_CONNECT_TIMEOUT": "2"}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "engine", "stats"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert time.monotonic() - began < 15
    assert done.returncode == 2
    assert "error: cannot reach the database" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def presets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "presets"
    make_presets(directory, count=1)
    return directory


def finish_now(maker: Maker, user_id: int, picture: str) -> int:
    with maker.begin() as s:
        ensure_person(s, user_id=user_id, telegram_language="en")
    job_id = submit(maker, user_id, picture)
    taken = claim(maker, "w")
    assert taken is not None and taken.id == job_id
    assert complete(maker, taken, result_sha=picture)
    return job_id


def delivered(maker: Maker, job_id: int) -> bool:
    return job(maker, job_id).delivered_at is not None


@pytest.mark.parametrize("backend", POSTGRES)
async def test_delivery_rides_out_a_database_restart(
    maker: Maker,
    proxy: TcpProxy,
    db_url: str,
    presets_dir: Path,
    jpeg_picture: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Problem 9: the loop retried an outage every 0.1 s with a full traceback each time."""
    async with FakeTelegram() as tg:
        alice = Person(tg)
        async with running_bot(tg, proxy.url_for(db_url), presets_dir) as application:
            delivery = application.bot_data.delivery
            proxy.cut()
            await tg.wait_for(lambda: delivery.outage.down, timeout=20)
            job_id = finish_now(maker, alice.id, jpeg_picture)  # the engine goes on meanwhile
            await asyncio.sleep(2.0)
            proxy.restore()
            await alice.wait_message(lambda m: m.kind == "photo", timeout=30)
            await tg.wait_for(lambda: delivered(maker, job_id), timeout=20)
    assert lines(caplog, "delivery: database unreachable") == 1
    assert lines(caplog, "delivery: database reachable again") == 1
    assert tracebacks(caplog) == 0


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_long_sqlite_lock_is_waited_out_by_the_bot_and_the_worker(
    maker: Maker,
    db_url: str,
    presets_dir: Path,
    jpeg_picture: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another process holds SQLite's write lock far past the lock timeout (an operator's
    shell, a backup): both sides wait it out, in a line each way, and lose nothing."""
    worker_engine = make_engine(db_url, timeouts=QUICK)
    worker = Worker(
        make_sessionmaker(worker_engine), worker_settings(tmp_path), run_job=run, worker_id="w-lock"
    )
    async with FakeTelegram() as tg:
        alice = Person(tg)
        async with running_bot(tg, db_url, presets_dir, DB_LOCK_TIMEOUT="0.3") as application:
            with Running(worker) as running:
                await tg.wait_for(lambda: registered(maker, "w-lock"), timeout=20)
                database = str(make_url(db_url).database)
                holder = sqlite3.connect(database, isolation_level=None, timeout=30)
                holder.execute("BEGIN IMMEDIATE")  # the write lock, held
                delivery = application.bot_data.delivery
                await tg.wait_for(lambda: delivery.outage.down and worker.outage.down, timeout=30)
                await asyncio.sleep(1.5)
                holder.execute("COMMIT")
                holder.close()
                with maker.begin() as s:
                    ensure_person(s, user_id=alice.id, telegram_language="en")
                job_id = submit(maker, alice.id, jpeg_picture)  # the worker paints it
                await alice.wait_message(lambda m: m.kind == "photo", timeout=30)
                await tg.wait_for(lambda: delivered(maker, job_id), timeout=30)
                assert running.error is None and running.thread.is_alive()
    worker_engine.dispose()
    assert lines(caplog, "delivery: database unreachable") == 1
    assert lines(caplog, "delivery: database reachable again") == 1
    assert lines(caplog, "worker w-lock: database unreachable") == 1
    assert lines(caplog, "worker w-lock: database reachable again") == 1
    assert tracebacks(caplog) == 0


@pytest.fixture
def jpeg_picture(maker: Maker) -> str:
    """A stored picture the fake Telegram takes as a photo."""
    from engine.jobs import blobs
    from tests.support.pictures import draw_image

    with maker.begin() as s:
        return blobs.put_image(s, draw_image(64, 48), mime="image/jpeg", width=64, height=48)
