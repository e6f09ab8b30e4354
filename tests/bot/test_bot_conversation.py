"""The real bot (`python -m bot --no-engine`) talking to people through the fake Telegram server.

No engine worker runs here, so jobs stay in the queue: these tests cover everything up to
queueing (greeting, languages, the gallery, settings, cancelling, limits, bad input).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from engine.jobs.models import Job, JobState
from tests.support.bot_harness import BotProcess, make_presets
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.pictures import draw_image, photo

pytestmark = pytest.mark.slow


async def test_start_greets_in_the_persons_language_and_shows_the_gallery(
    tg: FakeTelegram, bot_process: BotProcess
) -> None:
    await bot_process.start("--no-engine")
    alice = Person(tg, first_name="Alice", language_code="en")
    boris = Person(tg, first_name="Борис", language_code="ru")
    alice.command("start")
    boris.command("start")
    greeting = await alice.wait_reply("Hello, Alice!")
    assert "Send me a photo" in greeting.text
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    assert [b["text"] for b in gallery.buttons] == ["1. Painting 1", "2. Painting 2"]
    await boris.wait_reply("Здравствуйте, Борис!")
    # Telegram's command menu, in both languages.
    assert {c["command"] for c in tg.commands[""]} >= {"start", "help", "settings", "cancel"}
    assert "ru" in tg.commands
    # /lang switches, and the choice sticks.
    alice.command("lang")
    menu = await alice.wait_reply("Choose your language")
    alice.press(menu, "Русский")
    await alice.wait_edit(menu, lambda m: "по-русски" in m.text)
    mark = len(alice.messages)
    alice.command("help")
    assert "Как это работает" in (await alice.wait_reply(after=mark)).text


async def test_photo_then_preset_queues_with_position_and_cancel(
    tg: FakeTelegram, bot_process: BotProcess
) -> None:
    await bot_process.start("--no-engine")
    alice = Person(tg)
    alice.send_photo(photo())
    await alice.wait_reply("Got your photo")
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    tapped = alice.press(gallery, "2. Painting 2")
    status = await alice.wait_reply("queue")
    assert [b["text"] for b in status.buttons] == ["✖ Cancel"]
    assert (await alice.wait_answer(tapped))["text"] == "Style: Painting 2 (Tester)."
    # Bob queues behind her and sees his place.
    bob = Person(tg, first_name="Bob")
    bob.send_document(photo(80, 80), file_name="me.png", mime_type="image/png")
    await bob.wait_reply("Got your photo")
    bob.send_photo(draw_image(64, 64))  # his own style: the job is queued at once
    bob_status = await bob.wait_reply("place 2")
    assert "⇄ Swap photo and style" in [b["text"] for b in bob_status.buttons]
    # Alice cancels; Bob's message moves up.
    query = alice.press(status, "✖ Cancel")
    assert (await alice.wait_answer(query))["text"] == "Cancelled."
    await alice.wait_edit(status, lambda m: m.text == "Cancelled." and not m.buttons)
    await bob.wait_edit(bob_status, lambda m: "Next in the queue" in m.text, timeout=10)
    # /cancel cancels whatever Bob has.
    bob.command("cancel")
    await bob.wait_reply("Cancelled.")
    mark = len(bob.messages)
    bob.command("cancel")
    await bob.wait_reply("nothing waiting", after=mark)


async def test_swap_button_swaps_photo_and_style(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str
) -> None:
    await bot_process.start("--no-engine")
    alice = Person(tg)
    alice.send_photo(photo())
    await alice.wait_reply("Got your photo")
    alice.send_photo(draw_image(64, 64))
    status = await alice.wait_reply("queue")
    mark = len(alice.messages)
    alice.press(status, "⇄ Swap photo and style")
    await alice.wait_edit(status, lambda m: "Swapped" in m.text)
    await alice.wait_reply("queue", after=mark)
    # In the database: the first job is cancelled, and the new one has them the other way round.
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            first, swapped = connection.execute(
                select(Job.state, Job.content_sha, Job.styles).order_by(Job.id)
            ).all()
    finally:
        engine.dispose()
    assert (first.state, swapped.state) == (JobState.CANCELLED, JobState.QUEUED)
    assert first.content_sha != first.styles[0]["sha256"]
    assert swapped.content_sha == first.styles[0]["sha256"]
    assert [s["sha256"] for s in swapped.styles] == [first.content_sha]


async def test_settings_menu_is_stored_per_person(
    tg: FakeTelegram, bot_process: BotProcess
) -> None:
    await bot_process.start("--no-engine")
    alice = Person(tg)
    alice.command("settings")
    menu = await alice.wait_reply("Your settings")
    assert "Output size: automatic" in menu.text and "Quality: balanced" in menu.text
    alice.press(menu, "Output size")
    await alice.wait_edit(menu, lambda m: "choose a value" in m.text)
    assert "✓ automatic" in [b["text"] for b in menu.buttons]
    query = alice.press(menu, "512 px")
    assert (await alice.wait_answer(query))["text"] == "Saved."
    await alice.wait_edit(menu, lambda m: "Output size: 512 px" in m.text)
    alice.press(menu, "Keep my colours")
    await alice.wait_edit(menu, lambda m: "choose a value" in m.text)
    alice.press(menu, "yes")
    await alice.wait_edit(menu, lambda m: "Keep my colours: yes" in m.text)
    # A new menu reads them back from the database; another person's are untouched.
    mark = len(alice.messages)
    alice.command("settings")
    again = await alice.wait_reply("Your settings", after=mark)
    assert "512 px" in again.text and "Keep my colours: yes" in again.text
    bob = Person(tg)
    bob.command("settings")
    assert "Output size: automatic" in (await bob.wait_reply("Your settings")).text


async def test_bad_input_gets_a_short_hint(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str]
) -> None:
    bot_env["MAX_UPLOAD_PIXELS"] = "1000000"
    await bot_process.start("--no-engine")
    truncated = photo(300, 200)[: len(photo(300, 200)) * 2 // 3]
    alice = Person(tg)
    cases = [
        (alice.send_sticker, "Stickers"),
        (alice.send_animation, "not a video I can read"),
        (alice.send_video, "not a video I can read"),
        (alice.send_voice, "cannot listen"),
        (lambda: alice.send_text("hello there"), "Send me a photo"),
        (lambda: alice.command("paint"), "do not know that command"),
        (
            lambda: alice.send_document(
                b"%PDF-1.4\n...", file_name="cv.pdf", mime_type="application/pdf"
            ),
            "not a picture",
        ),
        (lambda: alice.send_document(b"", claimed_size=25 * 2**20), "25 MB"),
        (lambda: alice.send_document(truncated), "damaged"),
        (lambda: alice.send_document(draw_image(2400, 1800, stripes=False)), "too large"),
        (
            lambda: alice.send_document(draw_image(900, 20, stripes=False)),
            "too small or too narrow",
        ),
    ]
    for act, expected in cases:
        mark = len(alice.messages)
        act()
        await alice.wait_reply(expected, after=mark)
    assert not alice.sent_after(0)[-1].buttons


async def test_forged_and_stale_buttons_are_refused(
    tg: FakeTelegram, bot_process: BotProcess
) -> None:
    await bot_process.start("--no-engine")
    alice, mallory = Person(tg), Person(tg, first_name="Mallory")
    alice.send_photo(photo())
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    job_id = status.buttons[0]["callback_data"].split(":")[1]
    # Mallory's modified client sends Alice's job id (and other made-up data) from a button
    # on her own gallery message.
    mallory.command("presets")
    own = await mallory.wait_message(lambda m: m.kind == "photo")
    for data in [
        f"x:{job_id}",
        f"r:{job_id}:s",
        f"r:{job_id}:f",
        f"w:{job_id}",
        "x:999999",
        "p:no-such-preset",
        "g:99",
        "r:1:q",
        "garbage",
        "s:size:123",
        "l:xx",
    ]:
        query = mallory.press_data(own, data)
        answer = await mallory.wait_answer(query)
        assert answer["text"] == "This button is out of date.", data
    assert status.buttons, "Alice's job was not touched"
    assert "queue" in status.text
    assert len(mallory.messages) == 1
    # A preset pressed with no photo waiting asks for the photo first.
    query = mallory.press(own, "1. Painting 1")
    assert "photo first" in (await mallory.wait_answer(query))["text"]


@pytest.mark.parametrize(
    ("limit", "answer"),
    [
        ("MAX_QUEUED_PER_USER", "You already have 1 pictures in the queue"),
        ("MAX_JOBS_PER_HOUR", "That is 1 pictures this hour"),
        ("MAX_QUEUE_SIZE", "The queue is full right now"),
    ],
)
async def test_limits_get_a_friendly_answer(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str], limit: str, answer: str
) -> None:
    bot_env[limit] = "1"
    await bot_process.start("--no-engine")
    alice = Person(tg)
    for expected in ("Next in the queue", answer):
        mark = len(alice.messages)
        alice.send_photo(photo())
        gallery = await alice.wait_message(lambda m: m.kind == "photo", after=mark)
        alice.press(gallery, "1. Painting 1")
        await alice.wait_reply(expected, after=mark)


async def test_flood_control_is_waited_out(tg: FakeTelegram, bot_process: BotProcess) -> None:
    await bot_process.start("--no-engine")
    alice = Person(tg)
    tg.inject_error("sendMessage", code=429, retry_after=1, count=2)
    alice.command("help")
    await alice.wait_reply("How it works", timeout=20)
    refused = [c for c in tg.calls_of("sendMessage") if c.error]
    assert len(refused) == 2


async def test_admin_stats(tg: FakeTelegram, bot_process: BotProcess) -> None:
    await bot_process.start("--no-engine")
    admin, alice = Person(tg, user_id=4242), Person(tg)
    alice.command("stats")
    await alice.wait_reply("Only the bot's admins")
    admin.command("stats")
    stats = await admin.wait_reply("Queue:")
    assert "0 waiting" in stats.text and "Workers alive" in stats.text


async def test_allow_list(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str]
) -> None:
    bot_env["ALLOWED_USERS"] = "777"
    await bot_process.start("--no-engine")
    friend, stranger = Person(tg, user_id=777), Person(tg)
    stranger.command("start")
    await stranger.wait_reply("this bot is private")
    friend.command("start")
    await friend.wait_reply("Hello")


async def test_no_presets_means_asking_for_a_style_photo(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str], tmp_path: object
) -> None:
    bot_env["PRESETS_DIR"] = str(bot_process.log_path.parent / "no-presets-here")
    await bot_process.start("--no-engine")
    alice = Person(tg)
    alice.command("start")
    await alice.wait_reply("a second photo whose style")
    alice.send_photo(photo())
    await alice.wait_reply("send a picture whose style to borrow")
    assert all(m.kind == "text" for m in alice.messages)


async def test_token_problems_stop_start_up_with_a_clear_message(
    bot_env: dict[str, str], tmp_path: object
) -> None:
    import asyncio

    wrong = "987654321:" + "x" * 35  # well-formed, but not the fake server's token
    for token, expected in [
        ("", b"BOT_TOKEN is not set"),
        ("12:nope", b"does not look like"),
        (wrong, b"Telegram refused BOT_TOKEN"),
    ]:
        env = dict(bot_env, BOT_TOKEN=token)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "--no-engine",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 2
        assert expected in err and b"Traceback" not in err + out
        assert token.encode() not in err + out or not token


async def test_webhook_mode_with_a_secret_token(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str]
) -> None:
    import socket

    import aiohttp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/telegram-hook"
    bot_env.update(
        WEBHOOK_URL=url,
        WEBHOOK_SECRET="s3cret-Token",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    await bot_process.start("--no-engine", ready="setWebhook")
    assert tg.webhook == {"url": url, "secret_token": "s3cret-Token"}
    alice = Person(tg)
    alice.command("help")
    await alice.wait_reply("How it works")
    # Without the secret, the bot's webhook server refuses the update.
    async with aiohttp.ClientSession() as session:
        forged = {"update_id": 999, "message": alice.messages[0].message}
        async with session.post(url, json=forged) as response:
            assert response.status == 403


async def test_gallery_pages(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str], tmp_path: Path
) -> None:
    many = tmp_path / "many-presets"
    make_presets(many, count=8)
    bot_env["PRESETS_DIR"] = str(many)
    await bot_process.start("--no-engine")
    alice = Person(tg)
    alice.command("presets")
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    assert "page 1 of 2" in gallery.text
    assert [b["text"] for b in gallery.buttons][-1] == "More ▶"
    assert len(gallery.buttons) == 7  # six paintings and the next page
    first_picture = gallery.message["photo"][-1]["file_id"]
    alice.press(gallery, "More ▶")
    await alice.wait_edit(gallery, lambda m: "page 2 of 2" in m.text)
    assert [b["text"] for b in gallery.buttons] == ["7. Painting 7", "8. Painting 8", "◀ Back"]
    assert gallery.message["photo"][-1]["file_id"] != first_picture
    # A page goes up once; after that the bot sends Telegram's file_id for it.
    alice.press(gallery, "◀ Back")
    await alice.wait_edit(gallery, lambda m: "page 1 of 2" in m.text)
    assert first_picture in str(tg.calls_of("editMessageMedia")[-1].params["media"])
    mark = len(alice.messages)
    alice.send_photo(photo())
    # One message takes the photo in: the gallery, its caption saying so.
    answer = await alice.wait_reply("Got your photo", after=mark)
    assert answer.kind == "photo" and "page 1 of 2" in answer.text
    assert tg.calls_of("sendPhoto")[-1].params["photo"] == first_picture
    alice.press(gallery, "6. Painting 6")  # on the first gallery: it still works
    await alice.wait_reply("queue")
    assert len(alice.messages) == mark + 2  # the gallery and the queued message


async def test_an_error_is_logged_and_reported_to_the_admins(
    tg: FakeTelegram, bot_process: BotProcess
) -> None:
    await bot_process.start("--no-engine")
    admin, alice = Person(tg, user_id=4242), Person(tg)
    tg.inject_error("sendMessage", code=400, description="Bad Request: something odd", count=1)
    alice.command("help")
    await alice.wait_reply("Something went wrong on my side")
    report = await admin.wait_reply("Error while handling an update")
    assert "Something odd" in report.text  # PTB capitalises and drops "Bad Request: "
    assert "error while handling update" in bot_process.log()
    assert tg.token not in bot_process.log()


async def test_photo_and_style_sent_together_keep_their_order(
    tg: FakeTelegram, bot_process: BotProcess
) -> None:
    await bot_process.start("--no-engine")
    alice, bob = Person(tg), Person(tg)
    alice.send_photo(photo(300, 200))
    alice.send_photo(draw_image(64, 64))  # at once, before any answer
    bob.send_photo(photo())
    await alice.wait_reply("Got your photo")
    status = await alice.wait_reply("queue")
    assert "⇄ Swap photo and style" in [b["text"] for b in status.buttons]
    await bob.wait_reply("Got your photo")


async def test_the_attempt_limit_reaches_the_job(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str], database_url: str
) -> None:
    bot_env["JOB_MAX_ATTEMPTS"] = "5"
    await bot_process.start("--no-engine")
    alice = Person(tg)
    alice.send_photo(photo())
    await alice.wait_reply("Got your photo")
    alice.send_photo(draw_image(64, 64))
    await alice.wait_reply("queue")
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.scalars(select(Job.max_attempts)).all() == [5]
    finally:
        engine.dispose()
