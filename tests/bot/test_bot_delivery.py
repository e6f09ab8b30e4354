"""Delivery, in process: the bot's application in the test's event loop, jobs finished by hand.

Finishing jobs through the queue API directly (no engine) lets these tests produce results an
engine on a small CPU could not make quickly: large pictures, pictures Telegram will not take
as photos, failures, and people who blocked the bot. Every test runs on SQLite and on
PostgreSQL (the ``db_url`` fixture).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from bot import keyboards
from bot.delivery.status import POSITION_EDITS_PER_SECOND, StatusMessages
from bot.housekeeping import Housekeeping
from bot.settings import BotSettings
from bot.store.jobs import Active, set_status_message
from bot.store.people import ensure_person
from bot.texts import Texts
from engine.contract import PhotoParams, load_params
from engine.jobs import blobs, queue
from engine.jobs.models import Job, JobState, utcnow
from tests.support.bot_harness import delivery_passes, running_bot
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.jobs import Maker, claim, complete
from tests.support.jobs import submit as queue_job
from tests.support.pictures import draw_image

TOKEN = "123456:" + "A" * 35


def jpeg(width: int, height: int) -> bytes:
    return draw_image(width, height, color=(90, 40, 160), stripes=False)


@pytest.fixture
async def application(tg: FakeTelegram, db_url: str, presets_dir: Path) -> AsyncIterator[Any]:
    async with running_bot(tg, db_url, presets_dir, DELIVERY_RETRY_SECONDS="0.1") as app:
        yield app


def queued(maker: Maker, person: Person) -> int:
    """A job for the person, queued as the bot would; its id."""
    with maker.begin() as s:
        ensure_person(s, user_id=person.id, telegram_language=person.user.get("language_code"))
        content = blobs.put_image(s, jpeg(64, 48), mime="image/jpeg", width=64, height=48)
    return queue_job(maker, person.id, content)


def finish(
    maker: Maker,
    person: Person,
    result: bytes | None,
    *,
    error: str = "",
    error_kind: str | None = None,
) -> int:
    """Queue a job for the person and finish it as a worker would; its id."""
    job_id = queued(maker, person)
    claimed = claim(maker, "test-worker", lease=60)
    assert claimed is not None and claimed.id == job_id
    token = str(claimed.claim_token)
    with maker.begin() as s:
        if result is None:
            queue.fail(
                s,
                job_id,
                worker_id="test-worker",
                token=token,
                error=error,
                error_kind=error_kind,
                retry=False,
            )
        else:
            size = Image.open(io.BytesIO(result)).size
            sha = blobs.put_image(s, result, mime="image/jpeg", width=size[0], height=size[1])
            queue.complete(
                s,
                job_id,
                worker_id="test-worker",
                token=token,
                result_sha=sha,
                run_seconds=2.0,
            )
    return job_id


def undeliverable(maker: Maker, job_id: int) -> bool:
    with maker() as s:
        job = s.get(Job, job_id)
        return job is not None and job.undeliverable_at is not None


def delivered(maker: Maker, job_id: int) -> bool:
    with maker() as s:
        job = s.get(Job, job_id)
        return job is not None and job.delivered_at is not None


async def test_a_large_result_comes_as_a_photo_and_a_full_quality_file(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    maker = application.bot_data.sessionmaker
    finish(maker, alice, jpeg(2000, 1500))
    photo = await alice.wait_message(lambda m: m.kind == "photo")
    assert alice.largest_photo(photo).size == (1280, 960)  # what Telegram keeps
    document = await alice.wait_message(lambda m: m.kind == "document")
    data = alice.download(document.message["document"]["file_id"])
    assert Image.open(io.BytesIO(data)).size == (2000, 1500)
    assert "🎨 Another style" in [b["text"] for b in photo.buttons]


async def test_a_result_telegram_will_not_take_as_a_photo_comes_as_a_file(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    job_id = finish(application.bot_data.sessionmaker, alice, jpeg(2100, 100))  # 21:1
    document = await alice.wait_message(lambda m: m.kind == "document")
    assert "🎨 Another style" in [b["text"] for b in document.buttons]
    assert not tg.calls_of("sendPhoto")
    await tg.wait_for(lambda: delivered(application.bot_data.sessionmaker, job_id))


async def test_a_failure_is_explained_in_the_persons_words_never_the_errors(
    tg: FakeTelegram, application: Any
) -> None:
    maker = application.bot_data.sessionmaker
    raw = "the engine hit an unexpected error (RuntimeError: CUDA error in /srv/engine/x.py:42)"
    alice, boris, carol = Person(tg), Person(tg, language_code="ru"), Person(tg)
    finish(maker, alice, None, error=raw, error_kind="engine_error")
    finish(maker, boris, None, error="the GPU ran out of memory", error_kind="out_of_memory")
    finish(maker, carol, None, error="from a newer engine", error_kind="kind_from_the_future")
    told = await alice.wait_reply("Sorry, I could not paint this one")
    assert told.text == "Sorry, I could not paint this one: something went wrong on my side."
    assert (await boris.wait_reply("Простите")).text == (
        "Простите, не получилось: сейчас это слишком большая картинка для меня; "
        "уменьшите размер в /settings."
    )
    assert (await carol.wait_reply("Sorry")).text.endswith("something went wrong on my side.")
    every = " ".join(m.text for p in (alice, boris, carol) for m in p.messages)
    assert "RuntimeError" not in every and "GPU" not in every and "newer" not in every


async def test_blocked_person_and_network_errors_do_not_stop_delivery(
    tg: FakeTelegram, application: Any
) -> None:
    maker = application.bot_data.sessionmaker
    alice, bob = Person(tg), Person(tg)
    alice.block_bot()
    tg.inject_error("sendPhoto", code=502, count=1, chat_id=bob.id)  # retried, after a moment
    first = finish(maker, alice, jpeg(64, 48))
    second = finish(maker, bob, jpeg(64, 48))
    await bob.wait_message(lambda m: m.kind == "photo")
    await tg.wait_for(lambda: undeliverable(maker, first) and delivered(maker, second))
    assert sum(m.kind == "photo" for m in bob.messages) == 1
    assert alice.messages == []
    with maker() as s:  # blocked: given up at once, and why
        blocked = s.get(Job, first)
        assert blocked is not None and blocked.delivery_attempts == 1
        assert blocked.delivery_error == "Forbidden: bot was blocked by the user"


async def test_each_result_is_delivered_once(tg: FakeTelegram, application: Any) -> None:
    alice = Person(tg)
    maker = application.bot_data.sessionmaker
    job_ids = [finish(maker, alice, jpeg(60 + i, 40)) for i in range(3)]
    await tg.wait_for(lambda: all(delivered(maker, j) for j in job_ids))
    await delivery_passes(application.bot_data.delivery, 5)  # five more rounds: nothing new
    assert sum(m.kind == "photo" for m in alice.messages) == 3


def test_the_engines_sessions_are_the_ones_the_bot_uses(maker: Maker) -> None:
    with maker.begin() as s:
        assert ensure_person(s, user_id=5, telegram_language="ru-RU").language == "ru"


def jobs_of(maker: Maker, person: Person) -> list[Job]:
    with maker() as s:
        return list(s.scalars(select(Job).where(Job.user_id == person.id).order_by(Job.id)))


async def test_buttons_under_a_result_reuse_the_photo(tg: FakeTelegram, application: Any) -> None:
    maker = application.bot_data.sessionmaker
    alice = Person(tg)
    first = finish(maker, alice, jpeg(64, 48))
    result = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(result, "🌈 Keep my colours")
    await alice.wait_reply("queue")
    alice.press(result, "➖ Weaker")
    await tg.wait_for(lambda: len(jobs_of(maker, alice)) == 3)
    original, colours, weaker = jobs_of(maker, alice)
    assert colours.params["keep_colors"] is True and colours.content_sha == original.content_sha
    assert weaker.params["strength"] == pytest.approx(1 / 1.6, abs=1e-3)
    # The full-quality file of a small result, on request.
    alice.press(result, "📄 Full-quality file")
    document = await alice.wait_message(lambda m: m.kind == "document")
    assert document.message["document"]["file_name"] == f"stylized-{first}.jpg"
    # Another style: the same photo waits for a new style, and a preset takes it.
    mark = len(alice.messages)
    alice.press(result, "🎨 Another style")
    await alice.wait_reply("Same photo again", after=mark)
    # The gallery, not the status picture of one of the jobs above (also a photo, now queued).
    gallery = await alice.wait_message(
        lambda m: m.kind == "photo" and "2. Painting 2" in [b["text"] for b in m.buttons],
        after=mark,
    )
    alice.press(gallery, "2. Painting 2")
    await tg.wait_for(lambda: len(jobs_of(maker, alice)) == 4)
    assert jobs_of(maker, alice)[-1].content_sha == original.content_sha


async def test_settings_are_used_for_the_next_job(tg: FakeTelegram, application: Any) -> None:
    maker = application.bot_data.sessionmaker
    alice = Person(tg)
    alice.command("settings")
    menu = await alice.wait_reply("Your settings")
    for setting, value in [
        ("Output size", "768 px"),
        ("Style strength", "strong"),
        ("Quality", "fast"),
        ("Keep my colours", "yes"),
    ]:
        alice.press(menu, setting)
        await alice.wait_edit(menu, lambda m: "choose a value" in m.text)
        alice.press(menu, value)
        await alice.wait_edit(menu, lambda m: "Your settings" in m.text)
    alice.send_photo(jpeg(90, 60))
    await alice.wait_reply("Got your photo")
    alice.send_photo(jpeg(60, 60))
    await alice.wait_reply("queue")
    (job,) = jobs_of(maker, alice)
    assert load_params(job.kind, job.params) == PhotoParams(
        preset="fast", size=768, strength=1.5, style_scale=1.0, keep_colors=True, seed=None
    )


async def test_old_answered_jobs_are_forgotten_at_start_up_and_then_daily(maker: Maker) -> None:
    def old_answered_job() -> int:
        with maker.begin() as s:
            ensure_person(s, user_id=7, telegram_language="en")
            sha = blobs.put_image(s, jpeg(8, 8), mime="image/jpeg", width=8, height=8)
            job = queue.submit(
                s, user_id=7, chat_id=7, content_sha=sha, styles=[(sha, 1.0)], params=PhotoParams()
            )
            long_ago = utcnow() - timedelta(days=3)
            job.state, job.finished_at, job.delivered_at = JobState.DONE, long_ago, long_ago
            s.flush()
            return job.id

    def jobs() -> set[int]:
        with maker() as s:
            return set(s.scalars(select(Job.id)))

    async def until_none_left() -> None:
        deadline = time.monotonic() + 10
        while jobs() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert jobs() == set()

    first = old_answered_job()
    keep_all = Housekeeping(maker, keep_days=0)  # 0: keep everything
    keep_all.start()
    await keep_all.stop()
    assert jobs() == {first}

    assert Housekeeping(maker, keep_days=2).every == 24 * 3600  # once a day
    often = Housekeeping(maker, keep_days=2, every=0.05)
    often.start()
    try:
        await until_none_left()  # at start-up
        old_answered_job()
        await until_none_left()  # and again, a period later
    finally:
        await often.stop()


async def test_places_in_a_long_queue_are_edited_less_often_than_progress_bars() -> None:
    class Bot:
        def __init__(self) -> None:
            self.edits: list[tuple[int, str]] = []

        async def edit_message_text(self, text: str, chat_id: int, message_id: int, **_: Any):
            self.edits.append((message_id, text))

    env = {"BOT_TOKEN": TOKEN, "PROGRESS_EDIT_SECONDS": "3"}
    bot = Bot()
    status = StatusMessages(bot, None, BotSettings.from_env(env))  # type: ignore[arg-type]
    waiting = 100  # status messages open: places are spaced 100 / 5 = 20 s apart
    four_seconds_ago = time.monotonic() - 4
    for job_id in range(waiting):
        status.track(job_id, "old text", swap=False)
        status._shown[job_id].when = four_seconds_ago

    def job(job_id: int, state: JobState, position: int | None) -> Active:
        return Active(
            job_id=job_id,
            chat_id=1,
            status_message_id=1000 + job_id,
            state=state,
            position=position,
            progress=0.5,
            eta_seconds=9.0,
            language="en",
        )

    await status.refresh(job(0, JobState.RUNNING, None))
    await status.refresh(job(1, JobState.QUEUED, 7))
    assert [message for message, _ in bot.edits] == [1000]  # the progress bar only
    status._shown[1].when = time.monotonic() - waiting / POSITION_EDITS_PER_SECOND
    await status.refresh(job(1, JobState.QUEUED, 7))
    assert [message for message, _ in bot.edits] == [1000, 1001]


async def test_a_job_finished_before_its_status_message_is_posted_waits_for_it(
    tg: FakeTelegram, application: Any
) -> None:
    """Under a burst, a status message waits its turn in the flood limiter; a tiny job can
    finish meanwhile. Its answer waits, so that the status message is still brought to
    "Done." rather than left saying "queued"."""
    alice = Person(tg)
    maker = application.bot_data.sessionmaker
    delivery = application.bot_data.delivery
    job_id = queued(maker, alice)
    with delivery.status.posting(job_id):
        taken = claim(maker, "w", lease=60)
        assert taken is not None
        complete(maker, taken, result_sha=taken.content_sha, run_seconds=1)
        await delivery_passes(delivery, 5)
        assert not any(m.kind == "photo" for m in alice.messages)
        status = await application.bot.send_message(alice.id, "Next in the queue")
        with maker.begin() as s:
            set_status_message(s, job_id=job_id, message_id=status.message_id)
    await alice.wait_message(lambda m: m.kind == "photo")
    await tg.wait_for(lambda: delivered(maker, job_id))
    answered = tg.find_message(alice.id, status.message_id)
    assert answered is not None and answered.text == "Done."


async def test_status_messages_are_posted_in_the_background_and_failures_lose_no_job(
    tg: FakeTelegram, application: Any
) -> None:
    alice, bob = Person(tg), Person(tg)
    maker = application.bot_data.sessionmaker
    status_messages = application.bot_data.delivery.status
    markup = keyboards.queued(1, Texts("en"), swap=False)

    def finish_now(job_id: int) -> None:
        taken = claim(maker, "w", lease=60)
        assert taken is not None and taken.id == job_id
        with maker.begin() as s:
            sha = blobs.put_image(s, jpeg(64, 48), mime="image/jpeg", width=64, height=48)
        complete(maker, taken, result_sha=sha, run_seconds=1.0)

    first = queued(maker, alice)
    status_messages.follow(first, alice.id, "Next in the queue", markup, swap=False)
    status = await alice.wait_reply("Next in the queue")
    finish_now(first)
    await alice.wait_message(lambda m: m.kind == "photo")
    await alice.wait_edit(status, lambda m: m.text == "Done.")

    tg.inject_error("sendMessage", code=400, description="Bad Request: odd", count=1)
    second = queued(maker, bob)
    status_messages.follow(second, bob.id, "Next in the queue", markup, swap=False)
    finish_now(second)
    await bob.wait_message(lambda m: m.kind == "photo")  # no status message, still answered
    await tg.wait_for(lambda: delivered(maker, second))
    assert [m.kind for m in bob.messages] == ["photo"]
