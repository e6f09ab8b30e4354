"""What people and admins hear when something breaks: people a short sentence in their own
language, admins one redacted report per kind of error every few minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.admin_reports import AdminReports, error_kind
from bot.logging_setup import REDACTED, REDACTED_OTHER, RedactToken
from bot.settings import BotSettings
from tests.support.bot_harness import running_bot
from tests.support.fake_telegram import FakeTelegram, Person

TOKEN = "123456:" + "A" * 35
ADMIN = 4242


def raised(error: Exception) -> Exception:
    """The error with a traceback, as the error handler gets it."""
    try:
        raise error
    except Exception as e:
        return e


def test_a_report_is_redacted_like_the_logs() -> None:
    settings = BotSettings.from_env(
        {
            "BOT_TOKEN": TOKEN,
            "WEBHOOK_URL": "https://example.org/hook",
            "WEBHOOK_SECRET": "hook-secret-123",
            "DATABASE_URL": "postgresql+psycopg://bot:pa%40ss-word-9@db/stylebot",
        }
    )
    reports = AdminReports(RedactToken(settings.token, *settings.other_secrets), every=300)
    error = raised(
        RuntimeError(
            f"POST https://api.telegram.org/bot{TOKEN}/sendPhoto failed; secret "
            "hook-secret-123; connecting to postgresql://bot:pa%40ss-word-9@db "
            "(password pa@ss-word-9)"
        )
    )
    text = reports.report(error)
    assert text is not None and text.startswith("builtins.RuntimeError at test_errors.py:")
    for secret in (TOKEN, TOKEN.split(":")[1], "hook-secret-123", "pa@ss-word-9", "pa%40ss-word-9"):
        assert secret not in text
    assert text.count(REDACTED) == 1 and text.count(REDACTED_OTHER) == 3


def test_one_report_per_kind_of_error_every_few_minutes() -> None:
    now = [1000.0]
    reports = AdminReports(RedactToken(TOKEN), every=300, clock=lambda: now[0])

    def boom(n: int) -> Exception:
        return raised(KeyError(f"job {n}"))  # one line: one kind, whatever the message

    assert reports.report(boom(1)) is not None
    assert reports.report(boom(2)) is None
    assert reports.report(boom(3)) is None
    other = raised(ValueError("something else"))
    assert reports.report(other) is not None  # another kind is its own
    now[0] += 301
    later = reports.report(boom(4))
    assert later is not None and "and 2 more like it since the last report" in later
    assert reports.report(None) is None
    assert error_kind(boom(5)) != error_kind(other)


@pytest.fixture
async def app(tg: FakeTelegram, tmp_path: Path, presets_dir: Path) -> AsyncIterator[Any]:
    from engine.jobs.db import upgrade

    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    async with running_bot(tg, url, presets_dir, ADMIN_IDS=str(ADMIN)) as application:
        yield application


async def test_people_hear_a_sentence_and_the_admins_one_redacted_report(
    tg: FakeTelegram, app: Any
) -> None:
    alice, boris, admin = Person(tg), Person(tg, language_code="ru"), Person(tg, user_id=ADMIN)
    leaked = f"Bad Request: odd, see http://x/bot{tg.token}/sendMessage"
    tg.inject_error("sendMessage", code=400, description=leaked, count=1)
    alice.command("help")
    told = await alice.wait_reply("Something went wrong on my side")
    assert "odd" not in told.text and "Bad Request" not in told.text
    report = await admin.wait_reply("Error while handling an update")
    assert "telegram.error.BadRequest" in report.text and "Odd, see" in report.text
    # python-telegram-bot lowers the case of all but the first letter of the description.
    assert tg.token.split(":")[1].lower() not in report.text.lower()
    # The same kind of error a moment later, for someone else: logged, not reported.
    tg.inject_error("sendMessage", code=400, description=leaked, count=1)
    boris.command("help")
    await boris.wait_reply("У меня что-то сломалось")
    mark = len(boris.messages)
    boris.command("help")  # handled once his error's handling has finished
    await boris.wait_reply("Как это работает", after=mark)
    assert len(admin.messages) == 1
