"""Delivery against a Bot API that misbehaves as Telegram does: each job's errors are its own,
an answer's steps are recorded one by one, and nothing is sent twice but for a lost reply.

In process, on SQLite and PostgreSQL: the bot's application in the test's event loop, jobs
finished through the queue by hand (no engine), the fake Telegram made to fail on purpose.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import create_engine, text, update

from bot.store.jobs import set_status_message
from bot.store.people import ensure_person
from engine.contract import PhotoParams
from engine.jobs import blobs, queue
from engine.jobs.models import Job
from tests.support.bot_harness import (
    delivery_passes,
    in_process_settings,
    running_bot,
    start_bot,
    stop_bot,
)
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.jobs import Maker, claim
from tests.support.pictures import draw_image

pytestmark = pytest.mark.timeout(120)

# Quick back-off, so that a job Telegram keeps refusing runs out of tries within a test.
FAST_RETRIES = {
    "DELIVERY_RETRY_SECONDS": "0.05",
    "DELIVERY_RETRY_MAX_SECONDS": "0.2",
    "DELIVERY_MAX_ATTEMPTS": "4",
    "ADMIN_IDS": "4242",
}


def jpeg(width: int, height: int) -> bytes:
    return draw_image(width, height, color=(90, 40, 160), stripes=False)


@pytest.fixture
async def application(tg: FakeTelegram, db_url: str, presets_dir: Path) -> AsyncIterator[Any]:
    async with running_bot(tg, db_url, presets_dir, **FAST_RETRIES) as app:
        yield app


def finish(
    maker: Maker, user_id: int, result: bytes, *, chat_id: int | None = None, hold: bool = False
) -> int:
    """Queue a job for the person (in their private chat unless ``chat_id``) and finish it as
    a worker would; its id. ``hold``: the bot may not answer it until ``release`` says so."""
    with maker.begin() as s:
        ensure_person(s, user_id=user_id, telegram_language="en")
        content = blobs.put_image(s, jpeg(64, 48), mime="image/jpeg", width=64, height=48)
        job_id = queue.submit(
            s,
            user_id=user_id,
            chat_id=user_id if chat_id is None else chat_id,
            content_sha=content,
            styles=[(content, 1.0)],
            params=PhotoParams(preset="fast"),
        ).id
    taken = claim(maker, "test-worker", lease=60)
    assert taken is not None and taken.id == job_id
    size = Image.open(io.BytesIO(result)).size
    with maker.begin() as s:
        sha = blobs.put_image(s, result, mime="image/jpeg", width=size[0], height=size[1])
        assert queue.complete(
            s,
            job_id,
            worker_id="test-worker",
            token=str(taken.claim_token),
            result_sha=sha,
            run_seconds=2.0,
        )
        if hold:
            s.execute(update(Job).where(Job.id == job_id).values(deliver_after=FAR_FUTURE))
    return job_id


FAR_FUTURE = datetime(2999, 1, 1)


def release(maker: Maker, job_id: int) -> None:
    with maker.begin() as s:
        s.execute(update(Job).where(Job.id == job_id).values(deliver_after=None))


def lose_picture(db_url: str, sha: str) -> None:
    """A finished job's result picture gone from under it (a partial restore, a DELETE by
    hand): the database's own foreign-key checks are turned off to do it."""
    if db_url.startswith("sqlite"):
        # A plain sqlite3 connection does not enforce foreign keys.
        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as c:
            c.execute("DELETE FROM images WHERE sha256 = ?", (sha,))
            c.commit()
        return
    engine = create_engine(db_url)
    try:
        with engine.begin() as c:
            c.execute(text("SET LOCAL session_replication_role = replica"))  # no FK triggers
            c.execute(text("DELETE FROM images WHERE sha256 = :sha"), {"sha": sha})
    finally:
        engine.dispose()


def row(maker: Maker, job_id: int) -> Job:
    with maker() as s:
        found = s.get(Job, job_id)
        assert found is not None
        return found


def answered(maker: Maker, job_id: int) -> bool:
    found = row(maker, job_id)
    return found.delivered_at is not None or found.undeliverable_at is not None


def photos(person: Person) -> int:
    return sum(m.kind == "photo" for m in person.messages)


def documents(person: Person) -> int:
    return sum(m.kind == "document" for m in person.messages)


def tracebacks(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.exc_info)


async def test_a_migrated_chat_is_followed_and_nobody_else_waits(
    tg: FakeTelegram, application: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Problem 1: ChatMigrated left the delivery pass, and the next pass took the same job
    first again: nobody got a result again."""
    maker = application.bot_data.sessionmaker
    alice, bob = Person(tg), Person(tg)
    tg.add_group(-5501)
    tg.migrate_chat(-5501, -1005501)
    in_group = finish(maker, alice.id, jpeg(64, 48), chat_id=-5501)
    bobs = finish(maker, bob.id, jpeg(64, 48))
    await bob.wait_message(lambda m: m.kind == "photo")
    await tg.wait_for(lambda: answered(maker, in_group) and answered(maker, bobs))
    (result,) = [m for m in tg.bot_messages(-1005501) if m.kind == "photo"]
    assert "Here it is" in result.text
    assert row(maker, in_group).chat_id == -1005501  # later messages go there directly
    assert row(maker, in_group).delivered_at is not None
    assert tracebacks(caplog) == 0


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (500, "Internal Server Error"),  # python-telegram-bot: NetworkError
        (409, "Conflict: a chat in a state nobody expected"),  # a plain TelegramError
    ],
)
async def test_a_chat_that_always_fails_ends_undeliverable_and_holds_up_nobody(
    tg: FakeTelegram,
    application: Any,
    caplog: pytest.LogCaptureFixture,
    code: int,
    description: str,
) -> None:
    """Problem 1: each job's errors are its own; it backs off, then ends undeliverable with
    its reason (in the database, the log and /stats)."""
    caplog.set_level(logging.INFO)
    maker = application.bot_data.sessionmaker
    alice, bob, admin = Person(tg), Person(tg), Person(tg, user_id=4242)
    tg.fail_chat(alice.id, code=code, description=description)
    alices = finish(maker, alice.id, jpeg(64, 48))
    bobs = finish(maker, bob.id, jpeg(64, 48))
    await bob.wait_message(lambda m: m.kind == "photo")
    await tg.wait_for(lambda: answered(maker, alices), timeout=30)
    given_up = row(maker, alices)
    assert given_up.delivered_at is None and given_up.undeliverable_at is not None
    assert given_up.delivery_attempts == 4
    assert given_up.delivery_error is not None and description in given_up.delivery_error
    assert row(maker, bobs).delivered_at is not None
    tries = [c for c in tg.calls_of("sendPhoto") if int(c.params["chat_id"]) == alice.id]
    assert len(tries) == 4  # backed off and stopped, not retried every pass
    await delivery_passes(application.bot_data.delivery, 5)
    assert len([c for c in tg.calls_of("sendPhoto") if int(c.params["chat_id"]) == alice.id]) == 4
    assert any(
        f"job {alices} undeliverable" in r.getMessage() and description in r.getMessage()
        for r in caplog.records
    )
    assert tracebacks(caplog) == 0
    admin.command("stats")
    stats = await admin.wait_reply("Undeliverable")
    assert f"job {alices}" in stats.text and description in stats.text


async def test_a_missing_result_picture_is_undeliverable_at_once_and_holds_up_nobody(
    tg: FakeTelegram, application: Any, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Problem 1: a result picture that was missing raised out of the delivery pass, and the
    next pass took the same job first again: nobody got a result again."""
    maker = application.bot_data.sessionmaker
    alice, bob = Person(tg), Person(tg)
    alices = finish(maker, alice.id, jpeg(80, 60), hold=True)
    lose_picture(db_url, str(row(maker, alices).result_sha))
    release(maker, alices)
    bobs = finish(maker, bob.id, jpeg(64, 48))
    await bob.wait_message(lambda m: m.kind == "photo")
    await tg.wait_for(lambda: answered(maker, alices) and answered(maker, bobs))
    given_up = row(maker, alices)
    assert given_up.undeliverable_at is not None and given_up.delivery_attempts == 1
    assert given_up.delivery_error is not None and "missing" in given_up.delivery_error
    assert row(maker, bobs).delivered_at is not None
    await delivery_passes(application.bot_data.delivery, 5)
    assert photos(alice) == 0 and photos(bob) == 1
    assert tracebacks(caplog) == 0


async def test_a_failed_file_upload_is_retried_alone(tg: FakeTelegram, application: Any) -> None:
    """Problem 2: the answer was one unit; a failed second upload sent the photo again."""
    maker = application.bot_data.sessionmaker
    alice = Person(tg)
    tg.inject_error("sendDocument", code=502, count=2)
    job_id = finish(maker, alice.id, jpeg(2000, 1500))  # a photo, then the full-quality file
    await alice.wait_message(lambda m: m.kind == "document")
    await tg.wait_for(lambda: answered(maker, job_id))
    await delivery_passes(application.bot_data.delivery, 5)
    assert (photos(alice), documents(alice)) == (1, 1)
    done = row(maker, job_id)
    assert done.result_message_id is not None and done.file_message_id is not None


async def test_a_failed_status_edit_is_harmless(tg: FakeTelegram, application: Any) -> None:
    """Problem 2: a status edit that failed sent the photo again on every pass."""
    maker = application.bot_data.sessionmaker
    alice = Person(tg)
    status = await application.bot.send_message(alice.id, "Next in the queue")
    tg.inject_error("editMessageText", code=502, count=100)
    job_id = finish(maker, alice.id, jpeg(64, 48))
    with maker.begin() as s:
        set_status_message(s, job_id=job_id, message_id=status.message_id)
    await alice.wait_message(lambda m: m.kind == "photo")
    await tg.wait_for(lambda: answered(maker, job_id))
    await delivery_passes(application.bot_data.delivery, 5)
    assert photos(alice) == 1
    assert row(maker, job_id).delivered_at is not None


async def test_a_lost_reply_costs_one_copy_of_that_step_and_no_earlier_one(
    tg: FakeTelegram, application: Any
) -> None:
    """The promise: at-least-once, with a duplicate only where Telegram applied a message
    whose reply never came; the steps before it are never sent again."""
    maker = application.bot_data.sessionmaker
    alice, bob = Person(tg), Person(tg)
    tg.lose_replies("sendDocument", count=1, chat_id=alice.id)
    tg.lose_replies("sendPhoto", count=1, chat_id=bob.id)
    alices = finish(maker, alice.id, jpeg(2000, 1500))
    bobs = finish(maker, bob.id, jpeg(64, 48))
    await tg.wait_for(lambda: answered(maker, alices) and answered(maker, bobs))
    await delivery_passes(application.bot_data.delivery, 5)
    assert len(tg.lost_replies) == 2
    assert (photos(alice), documents(alice)) == (1, 2)  # the lost file, and its retry
    assert photos(bob) == 2  # the lost photo, and its retry
    assert row(maker, alices).delivered_at is not None
    assert row(maker, bobs).delivered_at is not None


async def test_a_graceful_stop_finishes_the_step_in_flight(
    tg: FakeTelegram, db_url: str, presets_dir: Path
) -> None:
    """Problem 2: a stop between the send and the mark sent the photo again after a restart."""
    settings = in_process_settings(tg, db_url, presets_dir, **FAST_RETRIES)
    application = await start_bot(settings)
    maker = application.bot_data.sessionmaker
    alice = Person(tg)
    tg.slow_replies("sendPhoto", seconds=1.0)
    try:
        job_id = finish(maker, alice.id, jpeg(2000, 1500))
        await tg.wait_for(lambda: tg.calls_of("sendPhoto"))
    finally:
        await stop_bot(application)  # SIGTERM while the photo is on its way
    assert photos(alice) == 1
    assert row(maker, job_id).result_message_id is not None  # recorded before it stopped
    async with running_bot(tg, db_url, presets_dir, **FAST_RETRIES) as again:
        await alice.wait_message(lambda m: m.kind == "document")
        await tg.wait_for(lambda: answered(again.bot_data.sessionmaker, job_id))
    assert (photos(alice), documents(alice)) == (1, 1)
