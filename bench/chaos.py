"""The chaos run: people use the bot while Telegram misbehaves, PostgreSQL restarts and a
worker is killed, and at the end nothing is lost, nothing stalls, nothing is sent twice but
for a lost reply.

    python -m bench.chaos                 # 12 people x 2 jobs, 2 workers (a few minutes)
    python -m bench.chaos --quick         # 5 people x 2 jobs, the CI version (tests/load)
    python -m bench.chaos --json out.json

It runs the real service, as bench/load does (``python -m bot --no-engine`` and ``python -m
engine work`` processes, the fake Bot API of tests/support in this process), on a PostgreSQL
server of its own (``scripts/pg-scratch`` on a free port, so that it can be restarted), and:

- a 429 storm while people send their photos and tap a painting (the bot's limiter waits);
- once everything is queued: 5xx answers (two per chat for some people), replies that never
  come (the message is in the chat, the bot sees a dropped connection: once per chat for
  others; ``--hang`` also holds one past the bot's timeout), another 429 storm, and a chat
  whose every send fails (a person who blocked the bot);
- ``pg_ctl restart`` once a third of the jobs are answered;
- ``kill -9`` of a busy worker once half are answered, and a new worker started.

At the end: every job is answered, or undeliverable with a reason (the blocked person's);
everyone else got every result; duplicates are counted, and each must be a lost reply's
(at most one per lost reply on a result); the bot and the workers still run; the log holds
no traceback flood. The run fails (exit status 1) otherwise. Figures: duplicates and lost
replies, time from the restart to the next job finished and the next result delivered, the
killed worker's job and its attempts, tracebacks and outage lines in the log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, select

from bench.load.people import Sent, ask, is_result, job_of
from bench.load.service import REPO, Service, live_workers, service_env, wait_workers
from engine.jobs.models import Job
from tests.support.bot_harness import make_presets, small_settings
from tests.support.fake_telegram import FakeTelegram, Person

PRESET = "1. Painting 1"
TRACEBACK = "Traceback (most recent call last)"
MAX_TRACEBACKS = 5  # a flood is hundreds (issue #13 saw over a thousand in four minutes)


@dataclass
class Figures:
    """What the run measured; ``problems`` is empty when it held."""

    people: int = 0
    jobs: int = 0
    seconds: float = 0.0
    delivered: int = 0
    undeliverable: int = 0
    undeliverable_reasons: list[str] = field(default_factory=list)
    duplicates: int = 0  # result photos beyond one per job
    lost_replies: int = 0  # calls the fake applied and never answered
    lost_result_replies: int = 0  # ...of them, result photos and files
    injected_5xx: int = 0
    storm_429s: int = 0
    restart_seconds: float = float("nan")  # pg_ctl restart itself
    restart_to_next_finished: float = float("nan")  # restart begun -> a job finished after it
    restart_to_next_delivered: float = float("nan")  # restart begun -> a result in a chat
    killed_job: int | None = None
    killed_job_attempts: int | None = None
    tracebacks: int = 0
    outage_lines: int = 0  # "database unreachable" lines in the log
    recovery_lines: int = 0  # "database reachable again"
    # Loops of processes still running whose last word on the database was "unreachable"
    # (the worker killed on purpose is not asked to recover).
    unrecovered: list[str] = field(default_factory=list)
    killed_pids: list[int] = field(default_factory=list)
    processes_alive: bool = False
    problems: list[str] = field(default_factory=list)


RECOVERY_GRACE = 15.0  # seconds, past Outage's 10 s back-off cap


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ScratchPostgres:
    """A PostgreSQL server of the run's own (scripts/pg-scratch), which it may restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "PG_SCRATCH_DIR": str(directory / "pg")}
        if shutil.which("runuser") and os.geteuid() == 0:  # the server runs as postgres
            directory.chmod(0o755)

    def _run(self, action: str) -> str:
        done = subprocess.run(
            [str(REPO / "scripts" / "pg-scratch"), action, str(self.port)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg-scratch {action}: {done.stderr.strip()}")
        return done.stdout.strip()

    def start(self) -> str:
        return self._run("start").splitlines()[-1]

    def restart(self) -> float:
        began = time.monotonic()
        self._run("restart")
        return time.monotonic() - began

    def stop(self) -> None:
        self._run("stop")


def chaos_env(env: dict[str, str], *, steps: int) -> dict[str, str]:
    env = dict(env)
    env.update(
        JOB_STEPS=str(steps),
        JOB_LEASE_SECONDS="6",  # the killed worker's job comes back soon
        JOB_HEARTBEAT_SECONDS="1",
        JOB_PROGRESS_SECONDS="0.5",
        WORKER_POLL_SECONDS="0.2",
        PROGRESS_EDIT_SECONDS="1",
        DELIVERY_POLL_SECONDS="0.2",
        DELIVERY_RETRY_SECONDS="0.5",
        DELIVERY_RETRY_MAX_SECONDS="4",
        DELIVERY_MAX_ATTEMPTS="5",
        DB_CONNECT_TIMEOUT="2",
        DB_STATEMENT_TIMEOUT="10",
        DB_LOCK_TIMEOUT="5",
    )
    return env


async def run_chaos(
    *, people: int, jobs: int, steps: int, hang: bool, timeout: float, log_copy: Path | None
) -> Figures:
    figures = Figures(people=people, jobs=people * jobs)
    with tempfile.TemporaryDirectory(prefix="stylebot-chaos-") as temp:
        directory = Path(temp)
        postgres = ScratchPostgres(directory)
        url = postgres.start()
        presets = directory / "presets"
        make_presets(presets, count=2)
        try:
            async with FakeTelegram() as tg:
                service = Service(
                    chaos_env(service_env(tg, url, presets, directory), steps=steps),
                    directory / "service.log",
                )
                try:
                    await drive(tg, service, postgres, url, figures, jobs, hang, timeout)
                finally:
                    figures.processes_alive = service.bot is not None and all(
                        p.returncode is None for p in (service.bot, *service.workers)
                    )
                    await service.stop()
                    read_log(service.log, figures)
                    if log_copy is not None:
                        shutil.copyfile(service.log, log_copy)
        finally:
            postgres.stop()
    if not figures.processes_alive:
        figures.problems.append("the bot or a worker was not running at the end")
    if figures.tracebacks > MAX_TRACEBACKS:
        figures.problems.append(f"{figures.tracebacks} tracebacks in the log: a flood")
    return figures


async def drive(
    tg: FakeTelegram,
    service: Service,
    postgres: ScratchPostgres,
    url: str,
    figures: Figures,
    jobs: int,
    hang: bool,
    timeout: float,
) -> None:
    await service.start_bot()
    await tg.wait_for(lambda: len(tg.calls_of("getUpdates")) > 0, timeout=120)
    for _ in range(2):
        await service.start_worker()
    crowd = [Person(tg, first_name=f"C{i}") for i in range(figures.people)]
    for person in crowd:
        small_settings(url, person, size=64)
    await wait_workers(url, 2, service)
    blocked, *others = crowd
    flaky = others[0::2]  # 5xx answers on their results
    lossy = others[1::2]  # replies that never come

    began = time.monotonic()
    tg.storm(2.0, retry_after=1)  # while everyone sends photos
    arrivals = random.Random(13)
    batches = await asyncio.gather(
        *(ask(p, tg, jobs, PRESET, delay=arrivals.uniform(0, 2)) for p in crowd)
    )
    sent = [s for batch in batches for s in batch]

    # Everything is queued: now Telegram misbehaves on the answers.
    tg.fail_chat(blocked.id)
    for person in flaky:
        tg.inject_error("sendPhoto", code=502, count=1, chat_id=person.id)
        tg.inject_error("sendPhoto", code=500, count=1, chat_id=person.id)
    for i, person in enumerate(lossy):
        held = 35.0 if hang and i == 0 else 0.0  # past the bot's timeout: a TimedOut
        tg.lose_replies("sendPhoto", count=1, chat_id=person.id, hang=held)
        tg.lose_replies("editMessageText", count=1, chat_id=person.id)
    tg.storm(2.0, retry_after=1)

    total = len(sent)

    def answered() -> int:
        return sum(1 for p in others for m in p.messages if is_result(m))

    await tg.wait_for(lambda: answered() >= total // 3 or None, timeout=timeout)
    finished_before = await asyncio.to_thread(finished_ids, url)
    restart_mark = {p.id: len(p.messages) for p in others}
    restart_began = time.monotonic()
    figures.restart_seconds = await asyncio.to_thread(postgres.restart)
    # Watched from now on, beside the rest of the run, so the times are the service's own.
    watch = asyncio.create_task(
        watch_recovery(figures, url, others, restart_began, restart_mark, finished_before)
    )

    await tg.wait_for(lambda: answered() >= total // 2 or None, timeout=timeout)
    running = await asyncio.to_thread(live_workers, url)
    busy = [p for p in service.workers if running.get(p.pid)] or service.workers[:1]
    victim = busy[0]
    figures.killed_job = running.get(victim.pid)
    figures.killed_pids.append(victim.pid)
    service.kill_worker(victim)
    await service.start_worker()

    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(settled_jobs, url) < total:
        if time.monotonic() > deadline:
            figures.problems.append(f"not every job was answered in {timeout:.0f} s")
            break
        await asyncio.sleep(0.2)
    figures.seconds = time.monotonic() - began
    watch.cancel()
    # A loop that met the restart while idle may still be backing off (up to the back-off's
    # 10 s cap): give each the time to find the database again before judging.
    recovering = time.monotonic() + RECOVERY_GRACE
    while unrecovered(service.log, figures.killed_pids) and time.monotonic() < recovering:
        await asyncio.sleep(0.5)
    await service.delivery_passes(10)  # a second copy would show up now
    check(tg, figures, sent, blocked, others, url)


async def watch_recovery(
    figures: Figures,
    url: str,
    others: list[Person],
    began: float,
    mark: dict[int, int],
    finished_before: set[int],
) -> None:
    """After the restart: when the next job finished, and the next result reached a chat
    (polled every 0.2 s; a read while the database is still away counts as nothing yet)."""
    while math.isnan(figures.restart_to_next_finished) or math.isnan(
        figures.restart_to_next_delivered
    ):
        if math.isnan(figures.restart_to_next_delivered) and any(
            is_result(m) for p in others for m in p.messages[mark[p.id] :]
        ):
            figures.restart_to_next_delivered = time.monotonic() - began
        if math.isnan(figures.restart_to_next_finished):
            try:
                done = await asyncio.to_thread(finished_ids, url)
            except Exception:  # the database not back yet
                done = finished_before
            if done - finished_before:
                figures.restart_to_next_finished = time.monotonic() - began
        await asyncio.sleep(0.2)


def finished_ids(url: str) -> set[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return set(c.scalars(select(Job.id).where(Job.finished_at.is_not(None))))
    finally:
        engine.dispose()


def settled_jobs(url: str) -> int:
    """Jobs answered or given up as undeliverable."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(select(Job.delivered_at, Job.undeliverable_at)).all()
    finally:
        engine.dispose()
    return sum(1 for d, u in rows if d is not None or u is not None)


def check(
    tg: FakeTelegram,
    figures: Figures,
    sent: list[Sent],
    blocked: Person,
    others: list[Person],
    url: str,
) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = {r.id: r for r in c.execute(select(Job))}
    finally:
        engine.dispose()
    by_person: dict[int, list[int]] = {}
    for s in sent:
        if s.job_id is None:
            figures.problems.append("a job was not queued")
            continue
        by_person.setdefault(s.person.id, []).append(s.job_id)
    if len(rows) != figures.jobs:
        figures.problems.append(f"the database holds {len(rows)} jobs for {figures.jobs} asked")
    for job_id, row in rows.items():
        if row.delivered_at is not None:
            figures.delivered += 1
        elif row.undeliverable_at is not None:
            figures.undeliverable += 1
            figures.undeliverable_reasons.append(f"job {job_id}: {row.delivery_error}")
            if not row.delivery_error:
                figures.problems.append(f"job {job_id} undeliverable without a reason")
            if row.chat_id != blocked.id:
                figures.problems.append(f"job {job_id} of a reachable person is undeliverable")
        else:
            figures.problems.append(f"job {job_id} is {row.state}, neither answered nor given up")
    if figures.killed_job is not None and figures.killed_job in rows:
        figures.killed_job_attempts = rows[figures.killed_job].attempts
    lost_by_chat: dict[int, int] = {}
    for call in tg.lost_replies:
        figures.lost_replies += 1
        if call.method in ("sendPhoto", "sendDocument"):
            figures.lost_result_replies += 1
            chat = int(call.params["chat_id"])
            lost_by_chat[chat] = lost_by_chat.get(chat, 0) + 1
    for person in others:
        copies: dict[int, int] = {}
        for message in person.messages:
            if is_result(message):
                job_id = job_of(message, "r:")
                if job_id is not None:
                    copies[job_id] = copies.get(job_id, 0) + 1
        for job_id in by_person.get(person.id, []):
            if copies.get(job_id, 0) < 1:
                figures.problems.append(f"person {person.id} never got job {job_id}'s result")
        extra = sum(n - 1 for n in copies.values() if n > 1)
        figures.duplicates += extra
        if extra > lost_by_chat.get(person.id, 0):
            figures.problems.append(
                f"person {person.id} got {extra} duplicates for "
                f"{lost_by_chat.get(person.id, 0)} lost replies: outside the window"
            )
    if any(is_result(m) for m in blocked.messages):
        figures.problems.append("the blocked person's chat got a result")
    figures.injected_5xx = sum(
        1 for c in tg.calls if c.error and c.error.split()[0] in ("500", "502")
    )
    figures.storm_429s = sum(1 for c in tg.calls if c.error and c.error.startswith("429"))


def read_log(log: Path, figures: Figures) -> None:
    text = log.read_text(errors="replace") if log.exists() else ""
    figures.tracebacks = text.count(TRACEBACK)
    figures.outage_lines = len(re.findall(r"database unreachable", text))
    figures.recovery_lines = len(re.findall(r"database reachable again", text))
    figures.unrecovered = unrecovered(log, figures.killed_pids)
    for what in figures.unrecovered:
        figures.problems.append(f"{what}: database unreachable, and never reachable again")


# "<who>: database unreachable (...)" and "<who>: database reachable again after ..."
# (engine/jobs/outage.py), after the log's "date time LEVEL logger: " prefix.
_OUTAGE_LINE = re.compile(
    r"^\S+ \S+ +\w+ +\S+: (.+?): database (unreachable|reachable again)", re.MULTILINE
)


def unrecovered(log: Path, killed_pids: list[int]) -> list[str]:
    """The loops whose last outage line says the database is unreachable, leaving out those of
    the processes killed on purpose (a worker id holds its pid: host-pid-random) and a running
    job's lease ("worker W, job N"): its thread ends with its job, which may finish before the
    thread's next try; the job's own outcome (settled, delivered) is checked elsewhere."""
    text = log.read_text(errors="replace") if log.exists() else ""
    last: dict[str, str] = {}
    for who, state in _OUTAGE_LINE.findall(text):
        last[who] = state
    killed = tuple(f"-{pid}-" for pid in killed_pids)
    return sorted(
        who
        for who, state in last.items()
        if state == "unreachable"
        and ", job " not in who
        and not any(mark in who for mark in killed)
    )


def report(figures: Figures, command: str) -> str:
    ok = "held" if not figures.problems else f"**failed** ({len(figures.problems)} problems)"
    rows = [
        ("people × jobs", f"{figures.people} × {figures.jobs // max(figures.people, 1)}"),
        ("outcome", ok),
        ("first photo to every job settled", f"{figures.seconds:.1f} s"),
        ("delivered / undeliverable", f"{figures.delivered} / {figures.undeliverable}"),
        ("undeliverable, why", "; ".join(figures.undeliverable_reasons) or "-"),
        ("5xx answers / 429 answers", f"{figures.injected_5xx} / {figures.storm_429s}"),
        (
            "replies lost (of them on results) / duplicate results",
            f"{figures.lost_replies} ({figures.lost_result_replies}) / {figures.duplicates}",
        ),
        ("pg_ctl restart took", f"{figures.restart_seconds:.1f} s"),
        (
            "restart → next job finished / next result in a chat",
            f"{figures.restart_to_next_finished:.1f} s / {figures.restart_to_next_delivered:.1f} s",
        ),
        (
            "killed worker's job / its attempts",
            f"{figures.killed_job} / {figures.killed_job_attempts}",
        ),
        (
            "log: tracebacks / outage lines / recovery lines",
            f"{figures.tracebacks} / {figures.outage_lines} / {figures.recovery_lines}",
        ),
        ("bot and workers running at the end", "yes" if figures.processes_alive else "no"),
    ]
    lines = [f"Command: `{command}`", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--people", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2, help="jobs per person")
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per job")
    parser.add_argument("--quick", action="store_true", help="5 people x 2 jobs, 6 steps")
    parser.add_argument(
        "--hang", action="store_true", help="also hold one lost reply past the bot's timeout"
    )
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--log", type=Path, metavar="FILE", help="keep the service's log")
    args = parser.parse_args(argv)
    if args.quick:
        args.people, args.jobs, args.steps = 5, 2, 6
    figures = asyncio.run(
        run_chaos(
            people=args.people,
            jobs=args.jobs,
            steps=args.steps,
            hang=args.hang,
            timeout=args.timeout,
            log_copy=args.log,
        )
    )
    command = " ".join(["python -m bench.chaos", *(sys.argv[1:] if argv is None else argv)])
    print(report(figures, command))
    for problem in figures.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2, allow_nan=True) + "\n")
    return 1 if figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
