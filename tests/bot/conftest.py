"""Fixtures for the bot's tests: the fake Telegram server, and the real bot as a subprocess.

End-to-end tests run ``python -m bot`` exactly as an operator would, with its environment
pointing at the fake server, a temporary SQLite database and a presets directory of pictures
drawn here. Everything the bot and its engine worker log goes to ``bot.log`` in the test's
temporary directory and is printed when a test fails.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.bot_harness import BotProcess, make_presets
from tests.support.fake_telegram import FakeTelegram


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def presets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "presets"
    make_presets(directory, count=2)
    return directory


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def bot_env(
    tg: FakeTelegram, tmp_path: Path, presets_dir: Path, database_url: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(
        BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=tg.api_url,
        TELEGRAM_FILE_URL=tg.file_url,
        DATABASE_URL=database_url,
        DATA_DIR=str(tmp_path / "data"),
        PRESETS_DIR=str(presets_dir),
        ADMIN_IDS="4242",
        DELIVERY_POLL_SECONDS="0.2",
        LOG_LEVEL="DEBUG",  # the bot logs each delivery pass: tests wait for passes, not time
        PROGRESS_EDIT_SECONDS="1",
        # The engine worker: the CPU, tiny pictures, few steps, quick polling.
        ENGINE_DEVICE="cpu",
        JOB_STEPS="4",
        WORKER_POLL_SECONDS="0.2",
        JOB_PROGRESS_SECONDS="0.2",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    return env


@pytest.fixture
async def bot_process(
    tg: FakeTelegram, tmp_path: Path, bot_env: dict[str, str], request: pytest.FixtureRequest
) -> AsyncIterator[BotProcess]:
    runner = BotProcess(tg, tmp_path, bot_env)
    yield runner
    await runner.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"----- bot.log -----\n{runner.log()}")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
