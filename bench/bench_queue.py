"""Benchmark the queue's own overhead: how fast empty jobs go through it, and how long a new
job waits before an idle worker takes it.

    python bench/bench_queue.py                              # SQLite, and PostgreSQL if found
    python bench/bench_queue.py --postgres postgresql+psycopg://user@host:5432/postgres

Each worker is a separate process running the real worker loop (``engine.jobs.worker.Worker``:
reclaim, claim, read the pictures, store the result, complete) with a job function that does
nothing, so the numbers are the queue's cost alone. For N = 1, 2, 4 workers:

- claims per second: JOBS jobs are queued, then N workers drain the queue;
- submit-to-claim latency: with the workers idle, jobs are submitted one at a time and each
  one's wait (``started_at - created_at``) is recorded. An idle worker polls every
  ``--poll`` seconds, so the latency is mostly half the poll interval.

PostgreSQL comes from ``--postgres``, else TEST_POSTGRES_URL; the benchmark makes a database
of its own on that server and drops it afterwards. Writes a markdown table to stdout and to
bench/out/queue.md.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.contract import PhotoParams
from engine.jobs import blobs, queue
from engine.jobs.db import make_engine, make_sessionmaker, upgrade
from engine.jobs.models import Job, JobState, User
from engine.jobs.settings import EngineSettings
from engine.jobs.worker import JobInput, JobResult, Progress, Worker

OUT = Path(__file__).resolve().parent / "out" / "queue.md"
RESULT = JobResult(data=b"empty result", mime="image/jpeg", width=1, height=1)
PEOPLE = 20


def nothing(job: JobInput, progress: Progress) -> JobResult:
    """An empty job: the worker loop's cost is all that is measured."""
    progress(1.0, 0.0)
    return RESULT


def work(url: str, name: str, poll: float, go: Event, stop: Event) -> None:
    """A worker process: wait for ``go``, then work until ``stop``."""
    engine = make_engine(url)
    settings = EngineSettings(
        data_dir=Path(tempfile.gettempdir()),
        database_url=url,
        poll_seconds=poll,
        progress_seconds=2.0,
        heartbeat_seconds=10.0,
        lease_seconds=60.0,
    )
    worker = Worker(make_sessionmaker(engine), settings, run_job=nothing, worker_id=name)
    go.wait()

    def stop_when_told() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    worker.run()
    engine.dispose()


@dataclass(frozen=True)
class Row:
    database: str
    workers: int
    jobs: int
    claims_per_second: float
    latency_p50_ms: float
    latency_p95_ms: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def submit(maker: sessionmaker[Session], picture: str, i: int) -> int:
    with maker.begin() as s:
        return queue.submit(
            s,
            user_id=1 + i % PEOPLE,
            chat_id=1,
            content_sha=picture,
            styles=[(picture, 1.0)],
            params=PhotoParams(),
        ).id


def wait_done(maker: sessionmaker[Session], ids: list[int], timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with maker() as s:
            left = s.scalar(select(func.count()).where(Job.id.in_(ids), Job.state != JobState.DONE))
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{left} jobs still not done")
        time.sleep(0.01)


def measure(url: str, label: str, n: int, *, jobs: int, probes: int, poll: float) -> Row:
    upgrade(url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    with maker.begin() as s:
        s.execute(text("DELETE FROM jobs"))
        s.execute(text("DELETE FROM workers"))
        s.execute(text("DELETE FROM users"))
        s.add_all(User(id=1 + i) for i in range(PEOPLE))
        s.flush()
        picture = blobs.put_image(s, b"tiny", mime="image/jpeg", width=1, height=1)

    context = mp.get_context("spawn")
    go, stop = context.Event(), context.Event()
    processes = [
        context.Process(target=work, args=(url, f"{label}-{n}-{i}", poll, go, stop))
        for i in range(n)
    ]
    for p in processes:
        p.start()
    try:
        # Throughput: a full queue, drained by N workers.
        ids = [submit(maker, picture, i) for i in range(jobs)]
        time.sleep(3.0)  # let the processes import and connect before the clock starts
        started = time.monotonic()
        go.set()
        wait_done(maker, ids)
        rate = jobs / (time.monotonic() - started)

        # Latency: idle workers, one job at a time.
        probe_ids = []
        for i in range(probes):
            probe_ids.append(submit(maker, picture, i))
            wait_done(maker, probe_ids[-1:])
            time.sleep(poll * 0.37)  # land at different points of the workers' poll cycle
        with maker() as s:
            waits = [
                (j.started_at - j.created_at).total_seconds() * 1000
                for j in s.scalars(select(Job).where(Job.id.in_(probe_ids)))
                if j.started_at is not None
            ]
    finally:
        stop.set()
        go.set()
        for p in processes:
            p.join(timeout=60)
        engine.dispose()
    return Row(
        database=label,
        workers=n,
        jobs=jobs,
        claims_per_second=rate,
        latency_p50_ms=statistics.median(waits),
        latency_p95_ms=percentile(waits, 0.95),
    )


def postgres_database(server: str) -> tuple[str, str]:
    """A fresh database on ``server``: its URL and name (to drop afterwards)."""
    name = f"bench_queue_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(server: str, name: str) -> None:
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def server_version(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as c:
        version = str(c.execute(text("SHOW server_version")).scalar())
    engine.dispose()
    return version


def table(rows: list[Row], *, poll: float) -> str:
    lines = [
        "| database | workers | jobs | claims/s | submit→claim p50 | submit→claim p95 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.database} | {r.workers} | {r.jobs} | {r.claims_per_second:.0f} "
        f"| {r.latency_p50_ms:.0f} ms | {r.latency_p95_ms:.0f} ms |"
        for r in rows
    ]
    lines.append("")
    lines.append(
        f"Empty jobs through the real worker loop; idle workers poll every {poll * 1000:.0f} ms."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL"))
    parser.add_argument("--jobs", type=int, default=500, help="jobs per throughput run")
    parser.add_argument("--probes", type=int, default=60, help="jobs per latency run")
    parser.add_argument("--poll", type=float, default=0.05, help="idle poll interval, seconds")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    rows: list[Row] = []
    backends = [f"SQLite {sqlite3.sqlite_version} (WAL)"]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        for n in args.workers:
            rows.append(
                measure(url, "SQLite", n, jobs=args.jobs, probes=args.probes, poll=args.poll)
            )
            print(f"SQLite, {n} worker(s): {rows[-1].claims_per_second:.0f}/s", file=sys.stderr)
    if args.postgres:
        pg_url, name = postgres_database(args.postgres)
        try:
            backends.append(f"PostgreSQL {server_version(pg_url)}")
            for n in args.workers:
                rows.append(
                    measure(
                        pg_url, "PostgreSQL", n, jobs=args.jobs, probes=args.probes, poll=args.poll
                    )
                )
                print(
                    f"PostgreSQL, {n} worker(s): {rows[-1].claims_per_second:.0f}/s",
                    file=sys.stderr,
                )
        finally:
            drop_postgres_database(args.postgres, name)
    else:
        print("no PostgreSQL (--postgres or TEST_POSTGRES_URL): SQLite only", file=sys.stderr)

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    )
    shown = ["URL" if "://" in a else a for a in sys.argv[1:]]  # no credentials in the docs
    command = " ".join(["python bench/bench_queue.py", *map(shlex.quote, shown)])
    report = "\n".join(
        [
            f"Measured {when} on {machine}; {', '.join(backends)}.",
            f"Command: `{command}`",
            "",
            table(rows, poll=args.poll),
        ]
    )
    print(report)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
