"""The bot under test: presets installed as an operator would, ``python -m bot`` as a subprocess,
and what a test waits for in a running bot (its delivery passes)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.delivery.loop import Delivery
from bot.settings import BotSettings

from .fake_telegram import FakeTelegram, Person
from .pictures import painting

REPO = Path(__file__).resolve().parents[2]
DELIVERY_PASS = re.compile(r"delivery pass (\d+) done")


def make_presets(directory: Path, count: int = 2) -> None:
    """Install ``count`` drawn paintings with `python -m bot presets add`, as an operator would."""
    from bot.presets.commands import main as presets_main

    palettes = [
        ((20, 30, 120), (240, 200, 40)),
        ((150, 20, 20), (20, 20, 20), (240, 240, 240)),
        ((10, 120, 60), (250, 120, 0)),
    ]
    for i in range(count):
        source = directory.parent / f"painting-{i}.jpg"
        source.write_bytes(painting(120, 90, palettes[i % len(palettes)]))
        assert (
            presets_main(
                [
                    "--dir",
                    str(directory),
                    "add",
                    str(source),
                    "--title",
                    f"Painting {i + 1}",
                    "--artist",
                    "Tester",
                    "--year",
                    "2024",
                ]
            )
            == 0
        )


class BotProcess:
    """``python -m bot`` in a subprocess, started and stopped by the test."""

    def __init__(self, tg: FakeTelegram, tmp_path: Path, env: dict[str, str]) -> None:
        self.tg = tg
        self.env = env
        self.log_path = tmp_path / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self._log_start = 0  # where the running process's lines begin in the log

    async def start(self, *args: str, wait: bool = True, ready: str = "getUpdates") -> None:
        """Start the bot; wait until it calls ``ready`` (it polls, or sets its webhook)."""
        polls = len(self.tg.calls_of(ready))
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        if wait:
            await self.tg.wait_for(
                lambda: len(self.tg.calls_of(ready)) > polls or self.exited(), timeout=60
            )
            assert not self.exited(), f"the bot exited:\n{self.log()}"

    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    async def stop(self) -> int | None:
        """SIGTERM, as an operator's Ctrl-C or a service manager would."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 40)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _delivery_passes(self) -> int:
        """Passes the running bot's delivery loop has logged (it logs them at LOG_LEVEL=DEBUG)."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            found = DELIVERY_PASS.findall(log.read().decode(errors="replace"))
        return int(found[-1]) if found else 0

    async def delivery_passes(self, count: int, *, timeout: float = 30) -> None:
        """Until the running bot's delivery loop has made ``count`` more passes: what a test
        waits for before it says something was *not* sent."""
        target = self._delivery_passes() + count
        deadline = asyncio.get_running_loop().time() + timeout
        while self._delivery_passes() < target:
            assert not self.exited(), f"the bot exited:\n{self.log()}"
            assert asyncio.get_running_loop().time() < deadline, "no delivery passes logged"
            await asyncio.sleep(0.05)


def small_settings(
    database_url: str, person: Person, *, size: int = 64, previews: bool = True
) -> None:
    """Give a person tiny, fast pictures (the settings menu offers 256 px and up), and live
    previews on or off."""
    from engine.jobs.db import make_engine, make_sessionmaker, upgrade
    from engine.jobs.models import User

    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            user = s.get(User, person.id) or User(id=person.id)
            user.size, user.quality = size, "fast"
            user.language = person.user.get("language_code")  # as the bot stores it
            user.strength, user.keep_colors, user.send_file = 1.0, False, False
            user.previews = previews
            s.add(user)
    finally:
        engine.dispose()


async def delivery_passes(delivery: Delivery, count: int, *, timeout: float = 30) -> None:
    """Until an in-process bot's delivery loop has made ``count`` more passes: what a test
    waits for before it says something was *not* sent."""
    target = delivery.passes + count
    deadline = asyncio.get_running_loop().time() + timeout
    while delivery.passes < target:
        assert asyncio.get_running_loop().time() < deadline, "the delivery loop is stuck"
        await asyncio.sleep(0.01)


def in_process_settings(tg: FakeTelegram, database_url: str, presets_dir: Path, **env: str) -> Any:
    """The bot's settings for a bot in the test's own process (``env`` adds or overrides)."""
    return BotSettings.from_env(
        {
            "BOT_TOKEN": tg.token,
            "TELEGRAM_API_URL": tg.api_url,
            "TELEGRAM_FILE_URL": tg.file_url,
            "DATABASE_URL": database_url,
            "PRESETS_DIR": str(presets_dir),
            "DELIVERY_POLL_SECONDS": "0.1",
            **env,
        }
    )


async def start_bot(settings: Any) -> Any:
    """The bot's application in this event loop, polling the fake server: what ``python -m
    bot --no-engine`` runs, without the process."""
    from bot import app as bot_app

    application = bot_app.build_application(settings, engine_process=None)
    await application.initialize()
    await bot_app.post_init(application)
    assert application.updater is not None
    await application.updater.start_polling(timeout=1)
    await application.start()
    return application


async def stop_bot(application: Any) -> None:
    """Stop it as python-telegram-bot does on SIGTERM: polling, then the application, then
    post_stop (delivery finishes what it is doing), then shutdown."""
    from bot import app as bot_app

    assert application.updater is not None
    if application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await bot_app.post_stop(application)
    await application.shutdown()
    await bot_app.post_shutdown(application)


@contextlib.asynccontextmanager
async def running_bot(
    tg: FakeTelegram, database_url: str, presets_dir: Path, **env: str
) -> AsyncIterator[Any]:
    application = await start_bot(in_process_settings(tg, database_url, presets_dir, **env))
    try:
        yield application
    finally:
        await stop_bot(application)


