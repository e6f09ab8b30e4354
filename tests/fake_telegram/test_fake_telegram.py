"""The fake Bot API server, held to the real python-telegram-bot library over real HTTP."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter

from tests.support.fake_telegram import FakeTelegram, Person, serve_in_thread
from tests.support.pictures import draw_image


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.api_url, base_file_url=tg.file_url) as b:
        yield b


async def test_get_me_and_wrong_token(tg: FakeTelegram, bot: Bot) -> None:
    assert bot.username == "fake_style_bot"
    wrong = Bot("1:wrong", base_url=tg.api_url)
    with pytest.raises(InvalidToken):
        await wrong.get_me()


async def test_long_polling_waits_for_an_update_and_offset_confirms(
    tg: FakeTelegram, bot: Bot
) -> None:
    alice = Person(tg)
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    alice.send_text("hello")
    updates = await asyncio.wait_for(poll, 3)
    assert [u.message.text for u in updates if u.message] == ["hello"]
    first = updates[0].message
    assert first is not None and first.from_user is not None and first.from_user.id == alice.id
    # Not confirmed yet: asked again, it comes again; an offset past it confirms it.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert tg.pending_updates() == []


async def test_photo_round_trip_through_get_file(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)
    alice.send_photo(draw_image(2000, 1000))
    (update,) = await bot.get_updates()
    assert update.message is not None
    largest = update.message.photo[-1]
    assert (largest.width, largest.height) == (1280, 640)  # what Telegram keeps of a photo
    file = await bot.get_file(largest.file_id)
    data = await file.download_as_bytearray()
    assert Image.open(io.BytesIO(data)).size == (1280, 640)


async def test_get_file_refuses_files_over_20_mb(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)
    alice.send_document(b"", claimed_size=25 * 1024 * 1024)
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.document is not None
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(update.message.document.file_id)


async def test_send_photo_upload_keyboard_and_edits(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go:1")]])
    sent = await bot.send_photo(alice.id, draw_image(300, 200), caption="hi", reply_markup=keyboard)
    assert sent.photo[-1].width == 300
    (shown,) = alice.messages
    assert shown.kind == "photo" and shown.text == "hi"
    assert [b["callback_data"] for b in shown.buttons] == ["go:1"]
    await bot.edit_message_caption(alice.id, sent.message_id, caption="bye")
    assert shown.text == "bye" and shown.buttons == []
    await bot.edit_message_media(
        InputMediaPhoto(draw_image(100, 100)), chat_id=alice.id, message_id=sent.message_id
    )
    assert shown.message["photo"][-1]["width"] == 100


async def test_a_photo_sent_again_by_file_id_keeps_its_sizes(tg: FakeTelegram, bot: Bot) -> None:
    alice, bob = Person(tg), Person(tg)
    first = await bot.send_photo(alice.id, draw_image(300, 200))
    again = await bot.send_photo(bob.id, first.photo[-1].file_id)
    assert [p.file_unique_id for p in again.photo] == [p.file_unique_id for p in first.photo]
    other = await bot.send_photo(alice.id, draw_image(100, 100))
    files = len(tg.files)
    edited = await bot.edit_message_media(
        InputMediaPhoto(other.photo[0].file_id), chat_id=bob.id, message_id=again.message_id
    )
    assert isinstance(edited, Message)
    assert [p.file_id for p in edited.photo] == [p.file_id for p in other.photo]
    assert len(tg.files) == files  # nothing recompressed
    with pytest.raises(BadRequest, match=r"(?i)there is no photo"):
        await bot.send_photo(bob.id, "no-such-file-id")


async def test_waiters_see_every_change_and_time_out(tg: FakeTelegram, bot: Bot) -> None:
    people = [Person(tg) for _ in range(20)]

    async def send_all() -> None:
        for person in people:
            await bot.send_message(person.id, f"hello {person.id}")

    sender = asyncio.create_task(send_all())
    replies = await asyncio.gather(*(p.wait_reply("hello", timeout=5) for p in people))
    await sender
    assert [m.text for m in replies] == [f"hello {p.id}" for p in people]
    with pytest.raises(TimeoutError):
        await tg.wait_for(lambda: None, timeout=0.1)


async def test_edit_that_changes_nothing_is_refused(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)
    sent = await bot.send_message(alice.id, "queued: 1")
    await bot.edit_message_text("queued: 2", alice.id, sent.message_id)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("queued: 2", alice.id, sent.message_id)
    assert len(alice.messages[0].edits) == 1


async def test_photo_limits_as_telegram(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)
    with pytest.raises(BadRequest, match=r"(?i)photo_invalid_dimensions"):
        await bot.send_photo(alice.id, draw_image(2100, 100, stripes=False))  # aspect 21
    sent = await bot.send_document(alice.id, draw_image(2100, 100), filename="wide.jpg")
    assert sent.document is not None and sent.document.file_name == "wide.jpg"


async def test_callback_press_and_single_answer(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c:7")]])
    await bot.send_message(alice.id, "running", reply_markup=keyboard)
    query_id = alice.press(alice.messages[0], "Cancel")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.data == "c:7"
    await query.answer("cancelled")
    assert (await alice.wait_answer(query_id))["text"] == "cancelled"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer("again")


async def test_injected_429_and_blocked_person(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)
    tg.inject_error("sendMessage", code=429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(alice.id, "x")
    assert "Retry in 3 seconds" in str(caught.value)
    await bot.send_message(alice.id, "x")  # only the next call was refused
    alice.block_bot()
    with pytest.raises(Forbidden):
        await bot.send_message(alice.id, "y")


async def test_wait_for_bot_message(tg: FakeTelegram, bot: Bot) -> None:
    alice = Person(tg)

    async def later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(alice.id, "result is ready")

    task = asyncio.create_task(later())
    message = await alice.wait_reply("ready", timeout=3)
    assert message.kind == "text"
    await task


def test_serve_in_thread_for_synchronous_code() -> None:
    server = serve_in_thread()
    try:
        alice = Person(server.tg)

        async def ask() -> str:
            async with Bot(server.tg.token, base_url=server.tg.api_url) as b:
                await b.send_message(alice.id, "hi from a thread")
            return alice.messages[0].text

        assert asyncio.run(ask()) == "hi from a thread"
    finally:
        server.stop()
