"""The containers' commands, run here with the environment compose.yaml gives them.

Docker is not available, so the images' start and health commands run in CI's own environment
instead: the migration, ``python -m engine stats`` (the bot image's health check), the bot
alone against the fake Telegram server, an engine worker, and ``python -m engine.health``
(the engine image's health check). Commands of the bot image run with torch made unimportable,
as it is there. Each runs on SQLite and on PostgreSQL (when a server is available).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_parsing import COMPOSE, ENV_EXAMPLE, REPO, interpolate, read_env_file

from engine.jobs import registry
from engine.jobs.db import make_engine, make_sessionmaker
from engine.jobs.models import utcnow
from tests.support import pgserver
from tests.support.backends import BACKENDS
from tests.support.fake_telegram import FakeTelegram

NO_TORCH = Path(__file__).resolve().parent / "no_torch"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema yet), as a fresh PostgreSQL container has."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stylebot.db'}"
        return
    try:
        server = pgserver.server_url()
    except pgserver.NoPostgres as e:
        if pgserver.required():
            pytest.fail(f"REQUIRE_POSTGRES=1 but {e}")
        pytest.skip(str(e))
    url = pgserver.create_database(server, prefix="deploy")
    yield url
    pgserver.drop_database(url)


def service_env(service: str, tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment compose gives ``service`` (with .env.example's values), pointed at the
    test's database, on top of this process's environment."""
    compose = yaml.safe_load(COMPOSE.read_text())
    dotenv = {**read_env_file(ENV_EXAMPLE.read_text()), "POSTGRES_PASSWORD": "unused"}
    dotenv["BOT_TOKEN"] = "123456:" + "A" * 35
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(DATA_DIR=str(tmp_path / "data"), PRESETS_DIR=str(tmp_path / "presets"))
    for key, value in (compose["services"][service].get("environment") or {}).items():
        env[key] = interpolate(str(value), dotenv)
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", **extra)
    target = compose["services"][service]["build"]["target"]
    if target == "bot":  # as in the bot image: torch is not there
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NO_TORCH), env.get("PYTHONPATH")]))
    return env


def run(
    args: list[str], env: dict[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_health_checks_follow_the_schema_and_the_workers(database_url: str, tmp_path: Path) -> None:
    migrate_env = service_env("migrate", tmp_path, database_url)
    bot_env = service_env("bot", tmp_path, database_url)
    engine_env = service_env("engine-cpu", tmp_path, database_url)

    # Before the migration, the bot image's health check fails, and a worker refuses to start.
    stats = run(["-m", "engine", "stats"], bot_env)
    assert stats.returncode != 0 and "python -m engine migrate" in stats.stderr
    work = run(["-m", "engine", "work"], engine_env)
    assert work.returncode == 2 and "python -m engine migrate" in work.stderr, work.stderr

    # The migrate service, twice (a restart of the stack runs it again).
    first = run(["-m", "engine", "migrate"], migrate_env)
    assert first.returncode == 0, first.stderr
    assert "upgraded the schema from nothing to" in first.stdout
    again = run(["-m", "engine", "migrate"], migrate_env)
    assert again.returncode == 0 and "already at the newest schema" in again.stdout

    stats = run(["-m", "engine", "stats"], bot_env)
    assert stats.returncode == 0, stats.stderr
    assert "live workers: 0" in stats.stdout

    def health(*args: str) -> subprocess.CompletedProcess[str]:
        return run(["-m", "engine.health", *args], engine_env)

    no_worker = health()
    assert no_worker.returncode == 1 and "no running worker" in no_worker.stderr

    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    try:
        here = socket.gethostname()
        with maker.begin() as s:
            registry.register_worker(s, worker_id="w1", hostname=here, pid=1, device="cpu")
            registry.register_worker(s, worker_id="w2", hostname="elsewhere", pid=1, device="cpu")
        alive = health()
        assert alive.returncode == 0, alive.stderr
        assert "live workers: 2" in run(["-m", "engine", "stats"], bot_env).stdout

        with maker.begin() as s:  # not seen for ten minutes: stuck, or cut off
            registry.worker_seen(s, "w1", now=utcnow() - timedelta(minutes=10))
        stale = health()
        assert stale.returncode == 1 and "last seen" in stale.stderr
        assert health("--max-age", "3600").returncode == 0

        with maker.begin() as s:
            registry.worker_seen(s, "w1")
            registry.worker_stopped(s, "w1")
        assert health().returncode == 1
        assert health("--host", "elsewhere").returncode == 0
    finally:
        engine.dispose()


async def test_bot_image_starts_the_bot_alone(database_url: str, tmp_path: Path) -> None:
    """`python -m bot --no-engine` with compose's environment: it upgrades the schema itself,
    polls Telegram, and stops cleanly on SIGTERM (docker stop)."""
    async with FakeTelegram() as tg:
        env = service_env(
            "bot",
            tmp_path,
            database_url,
            BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.api_url,
            TELEGRAM_FILE_URL=tg.file_url,
        )
        log = tmp_path / "bot.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "--no-engine",
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        try:
            await tg.wait_for(
                lambda: tg.calls_of("getUpdates") or process.returncode is not None, timeout=60
            )
            assert process.returncode is None, log.read_text()
            health = await asyncio.to_thread(run, ["-m", "engine", "stats"], env)
            assert health.returncode == 0, health.stderr
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 40)
        assert code == 0, log.read_text()
        assert "with a local engine worker" not in log.read_text()


@pytest.mark.slow
def test_engine_image_runs_a_worker_that_is_healthy(database_url: str, tmp_path: Path) -> None:
    """`python -m engine work` as the engine-cpu service runs it: healthy once it is up, and
    a clean exit (status 0) on SIGTERM, after which the health check fails."""
    env = service_env("engine-cpu", tmp_path, database_url, JOB_HEARTBEAT_SECONDS="1")
    assert (
        run(["-m", "engine", "migrate"], service_env("migrate", tmp_path, database_url)).returncode
        == 0
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "engine", "work"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            health = run(["-m", "engine.health"], env)
            if health.returncode == 0:
                break
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"never healthy: {health.stderr}\n{log.read_text()}"
            time.sleep(1)
        stats = run(["-m", "engine", "stats"], env)
        assert "live workers: 1" in stats.stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        code: Any = worker.wait(timeout=60)
    assert code == 0, log.read_text()
    after = run(["-m", "engine.health"], env)
    assert after.returncode == 1, after.stdout
