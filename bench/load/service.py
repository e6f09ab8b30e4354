"""The service under load: the bot and engine workers as subprocesses, exactly as an operator
runs them, against a fresh database per configuration."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from engine.jobs.models import Worker
from tests.support.fake_telegram import FakeTelegram

REPO = Path(__file__).resolve().parents[2]
DELIVERY_PASS = re.compile(r"delivery pass (\d+) done")


class Service:
    """The bot and its engine workers as subprocesses, logging to one file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.bot: asyncio.subprocess.Process | None = None
        self.workers: list[asyncio.subprocess.Process] = []
        self.killed: list[asyncio.subprocess.Process] = []
        self._bot_log_start = 0

    async def _spawn(self, *args: str) -> asyncio.subprocess.Process:
        with self.log.open("ab") as log:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def start_bot(self) -> None:
        self._bot_log_start = self.log.stat().st_size if self.log.exists() else 0
        self.bot = await self._spawn("-m", "bot", "--no-engine")

    def _delivery_passes(self) -> int:
        with self.log.open("rb") as log:
            log.seek(self._bot_log_start)
            found = DELIVERY_PASS.findall(log.read().decode(errors="replace"))
        return int(found[-1]) if found else 0

    async def delivery_passes(self, count: int, *, timeout: float = 60) -> None:
        """Until the bot's delivery loop has made ``count`` more passes (it logs each)."""
        target = self._delivery_passes() + count
        deadline = time.monotonic() + timeout
        while self._delivery_passes() < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot logged no {count} delivery passes in {timeout:.0f} s")
            await asyncio.sleep(0.05)

    async def start_worker(self) -> None:
        self.workers.append(await self._spawn("-m", "engine", "work"))

    def kill_worker(self, victim: asyncio.subprocess.Process) -> None:
        self.workers.remove(victim)
        victim.send_signal(signal.SIGKILL)
        self.killed.append(victim)

    async def stop(self) -> None:
        processes = [p for p in (self.bot, *self.workers) if p is not None]
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 40)
            except TimeoutError:
                process.kill()
                await process.wait()


def fresh_database(kind: str, postgres: str | None, directory: Path) -> tuple[str, str | None]:
    """A new, empty database: its URL, and the name to drop afterwards (PostgreSQL)."""
    if kind == "sqlite":
        return f"sqlite:///{directory / 'load.db'}", None
    if not postgres:
        raise SystemExit("PostgreSQL configurations need --postgres URL or TEST_POSTGRES_URL")
    name = f"load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(postgres).set(database=name)
    return url.render_as_string(hide_password=False), name


def drop_database(postgres: str, name: str) -> None:
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def service_env(tg: FakeTelegram, database_url: str, presets: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_", "JOB_"))}
    env.update(
        BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=tg.api_url,
        TELEGRAM_FILE_URL=tg.file_url,
        DATABASE_URL=database_url,
        DATA_DIR=str(data),
        PRESETS_DIR=str(presets),
        ENGINE_DEVICE="cpu",
        OMP_NUM_THREADS="1",  # one core per worker: the machine's cores are the budget
        MAX_QUEUE_SIZE="1000",
        JOB_LEASE_SECONDS="10",  # the kill -9 run: a dead worker's job comes back soon
        JOB_HEARTBEAT_SECONDS="2",
        LOG_LEVEL="DEBUG",  # the bot logs its delivery passes (Service.delivery_passes)
        PYTHONUNBUFFERED="1",
    )
    return env


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live_workers(database_url: str) -> dict[int, int | None]:
    """pid -> the job it is running, for every worker registered and not stopped."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Worker.pid, Worker.current_job_id).where(Worker.stopped_at.is_(None))
            ).all()
    finally:
        engine.dispose()
    return {row.pid: row.current_job_id for row in rows}


async def wait_workers(database_url: str, count: int, service: Service) -> None:
    """Until ``count`` of the service's worker processes have registered (model loaded)."""
    deadline = time.monotonic() + 300
    while True:
        pids = {p.pid for p in service.workers}
        ready = pids & set(await asyncio.to_thread(live_workers, database_url))
        if len(ready) >= count:
            return
        dead = [p for p in service.workers if p.returncode is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"only {len(ready)} of {count} workers started")
        await asyncio.sleep(0.5)
