"""The whole service: `python -m bot` with its engine worker, people, and pictures coming back.

The worker runs on the CPU with tiny pictures (64 px) and a few optimiser steps (JOB_STEPS), so
a job takes seconds; loading torch and VGG-19 in the worker takes most of the time.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

import pytest

from tests.support.bot_harness import REPO, BotProcess, small_settings
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.pictures import draw_image, photo

pytestmark = pytest.mark.slow

RESULT_TIMEOUT = 150.0  # the worker's first start loads torch and the weights


def is_result(message: object) -> bool:
    return getattr(message, "kind", None) == "photo" and "Here it is" in getattr(
        message, "text", ""
    )


async def test_photo_and_preset_come_back_painted(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str
) -> None:
    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start()
    alice.send_photo(photo(96, 64))
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    result = await alice.wait_message(is_result, timeout=RESULT_TIMEOUT)
    picture = alice.largest_photo(result)
    assert picture.size == (64, 43)  # the photo's 3:2, at the person's 64 px
    assert {b["text"] for b in result.buttons} >= {
        "🎨 Another style",
        "➕ Stronger",
        "➖ Weaker",
        "🌈 Keep my colours",
    }
    await alice.wait_edit(status, lambda m: m.text == "Done." and not m.buttons)
    shown = [old.get("text") or old.get("caption") or "" for _, old in status.edits]
    assert any("queue" in text for text in shown)
    # Progress edits (all but the final "Done.") come at most every PROGRESS_EDIT_SECONDS (1).
    times = [status.sent_at, *[when for when, _ in status.edits][:-1]]
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times)), times
    # "Stronger" runs it again on the photo already sent.
    mark = len(alice.messages)
    alice.press(result, "➕ Stronger")
    await alice.wait_message(is_result, after=mark, timeout=RESULT_TIMEOUT)
    assert tg.token not in bot_process.log()
    assert tg.token.split(":")[1] not in bot_process.log()


async def test_own_style_photo_and_two_people_at_once(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str
) -> None:
    alice, bob = Person(tg), Person(tg, first_name="Bob", language_code="ru")
    small_settings(database_url, alice)
    small_settings(database_url, bob)
    await bot_process.start()
    alice.send_document(photo(64, 96), file_name="tall.png", mime_type="image/png")
    bob.send_photo(photo(120, 60))
    await alice.wait_reply("Got your photo")
    await bob.wait_reply("Фото получено")
    alice.send_photo(draw_image(80, 80))
    gallery = await bob.wait_message(lambda m: m.kind == "photo")
    bob.press(gallery, "2. Painting 2")
    got_alice = await alice.wait_message(is_result, timeout=RESULT_TIMEOUT)
    got_bob = await bob.wait_message(
        lambda m: m.kind == "photo" and "Готово" in m.text, timeout=RESULT_TIMEOUT
    )
    assert alice.largest_photo(got_alice).size == (43, 64)
    assert bob.largest_photo(got_bob).size == (64, 32)


async def test_full_quality_file_on_request(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str
) -> None:
    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start()
    alice.command("settings")
    menu = await alice.wait_reply("Your settings")
    alice.press(menu, "Full-quality file")
    await alice.wait_edit(menu, lambda m: "choose a value" in m.text)
    alice.press(menu, "yes")
    await alice.wait_edit(menu, lambda m: "file: yes" in m.text)
    alice.send_photo(photo())
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    document = await alice.wait_message(lambda m: m.kind == "document", timeout=RESULT_TIMEOUT)
    assert document.message["document"]["file_name"].endswith(".jpg")
    assert any(is_result(m) for m in alice.messages)


async def test_a_restart_between_done_and_delivered_delivers_once(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str, bot_env: dict[str, str]
) -> None:
    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start("--no-engine")
    alice.send_photo(photo())
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    assert await bot_process.stop() == 0
    # The engine finishes the job while the bot is down.
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "engine",
        "work",
        "--once",
        cwd=REPO,
        env=bot_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(worker.communicate(), RESULT_TIMEOUT)
    assert worker.returncode == 0, out.decode(errors="replace")
    assert not any(is_result(m) for m in alice.messages)
    await bot_process.start("--no-engine")
    await alice.wait_message(is_result, timeout=30)
    await alice.wait_edit(status, lambda m: m.text == "Done.")
    await bot_process.delivery_passes(10)  # several delivery rounds
    assert await bot_process.stop() == 0
    await bot_process.start("--no-engine")
    await bot_process.delivery_passes(10)
    assert sum(is_result(m) for m in alice.messages) == 1


async def test_a_person_who_blocked_the_bot_does_not_stop_delivery(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str
) -> None:
    alice, bob = Person(tg), Person(tg, first_name="Bob")
    small_settings(database_url, alice)
    small_settings(database_url, bob)
    await bot_process.start()
    for person in (alice, bob):
        person.send_photo(photo())
        gallery = await person.wait_message(lambda m: m.kind == "photo")
        person.press(gallery, "1. Painting 1")
        await person.wait_reply("queue")
    alice.block_bot()
    await bob.wait_message(is_result, timeout=RESULT_TIMEOUT)
    log = bot_process.log  # "the person blocked the bot", or the undeliverable reason
    await tg.wait_for(lambda: "blocked" in log(), timeout=RESULT_TIMEOUT)


async def test_the_local_engine_worker_is_restarted_if_it_dies(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str
) -> None:
    import os
    import re
    import signal

    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start()
    started = re.compile(r"engine worker started \(pid (\d+)\)")
    first = await tg.wait_for(lambda: started.findall(bot_process.log()), timeout=30)
    os.kill(int(first[0]), signal.SIGKILL)
    await tg.wait_for(lambda: len(started.findall(bot_process.log())) == 2, timeout=30)
    assert "restarting" in bot_process.log()
    alice.send_photo(photo())
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "2. Painting 2")
    await alice.wait_message(is_result, timeout=RESULT_TIMEOUT)


async def test_progress_bar_with_time_left_while_painting(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str, bot_env: dict[str, str]
) -> None:
    bot_env["JOB_STEPS"] = "60"  # long enough to watch
    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start()
    alice.send_photo(photo())
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    running = await alice.wait_edit(status, lambda m: "%" in m.text, timeout=RESULT_TIMEOUT)
    assert "▓" in running.text or "░" in running.text
    assert [b["text"] for b in running.buttons] == ["✖ Cancel"]
    await alice.wait_message(is_result, timeout=RESULT_TIMEOUT)
    await alice.wait_edit(status, lambda m: m.text == "Done.")  # it follows the result
    # Each earlier version: text, or the caption once a preview turned it into a picture.
    texts = [old.get("text") or old.get("caption") or "" for _, old in status.edits]
    assert any("left" in text for text in texts), texts


async def test_cancel_while_painting(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str, bot_env: dict[str, str]
) -> None:
    bot_env["JOB_STEPS"] = "2000"
    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start()
    alice.send_photo(photo())
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    await alice.wait_edit(status, lambda m: "%" in m.text, timeout=RESULT_TIMEOUT)
    query = alice.press(status, "✖ Cancel")
    assert (await alice.wait_answer(query))["text"] == "Cancelled."
    await alice.wait_edit(status, lambda m: m.text == "Cancelled." and not m.buttons)
    # The worker stops at its next step; the job is then answered as cancelled.
    await tg.wait_for(lambda: "job 1 delivered (cancelled)" in bot_process.log(), 30)
    assert not any(is_result(m) for m in alice.messages)
    assert status.text == "Cancelled."


async def test_the_person_watches_it_paint_and_gets_the_film(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str, bot_env: dict[str, str]
) -> None:
    """Live previews in the status message, then the time-lapse, from the real worker."""
    import io

    import av
    import numpy as np
    from PIL import Image

    bot_env.update(JOB_STEPS="80", PREVIEW_SECONDS="0.5")
    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start()
    sent = photo(96, 64)
    alice.send_photo(sent)
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    assert status.kind == "photo"  # the person's own photo, small, while it waits
    result = await alice.wait_message(is_result, timeout=RESULT_TIMEOUT)
    await alice.wait_edit(status, lambda m: m.text == "Done." and not m.buttons)

    def picture_of(message: dict[str, object]) -> np.ndarray:
        sizes = message["photo"]
        assert isinstance(sizes, list)
        best = max(sizes, key=lambda s: s["width"] * s["height"])
        image = Image.open(io.BytesIO(alice.download(best["file_id"]))).convert("RGB")
        return np.asarray(image.resize((96, 64)), dtype=float)

    def apart(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).mean())

    # What the status message showed while painting (its captions had a progress bar).
    painting = [
        picture_of(old)
        for _, old in status.edits
        if "photo" in old and "%" in str(old.get("caption", ""))
    ]
    distinct: list[np.ndarray] = []
    for shown in painting:
        if all(apart(shown, seen) > 1.0 for seen in distinct):
            distinct.append(shown)
    assert len(distinct) >= 2, f"{len(painting)} progress states, {len(distinct)} pictures"
    final = picture_of(status.message)
    assert apart(final, picture_of(result.message)) < 6  # "Done." under the finished picture

    alice.press(result, "🎬 How it was painted")
    film = await alice.wait_message(lambda m: m.kind == "animation", timeout=60)
    data = alice.download(film.message["animation"]["file_id"])
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = [f.to_ndarray(format="rgb24").astype(float) for f in container.decode(video=0)]
    assert len(frames) == tg.animations[film.message["animation"]["file_id"]].frames > 10

    def near(frame: np.ndarray, picture: np.ndarray) -> float:
        image = Image.fromarray(picture.astype(np.uint8)).resize((frame.shape[1], frame.shape[0]))
        return apart(frame, np.asarray(image, dtype=float))

    the_photo = np.asarray(Image.open(io.BytesIO(sent)).convert("RGB").resize((96, 64)), float)
    the_result = picture_of(result.message)
    assert near(frames[0], the_photo) < 12 and near(frames[0], the_photo) < near(
        frames[0], the_result
    )
    assert near(frames[-1], the_result) < 12 and near(frames[-1], the_result) < near(
        frames[-1], the_photo
    )
    assert sum(is_result(m) for m in alice.messages) == 1
