"""Pictures coming in, through the fake Bot API over real HTTP: what is refused before it is
downloaded, what a download may cost, what is stored, each person's allowance, and what the
admins hear when something breaks.

The bot's application runs in the test's event loop (running_bot), on SQLite: the store's
own tests (test_store.py) run the allowance on PostgreSQL too.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from engine.contract import MAX_PICTURE_SIDE
from engine.jobs.models import Image as ImageRow
from engine.jobs.models import Upload
from tests.support.bot_harness import running_bot
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.pictures import encoded, photo, png_bomb

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

ADMIN = 4242
Start = Callable[..., Any]


@pytest.fixture
async def start(
    tg: FakeTelegram, db_url: str, presets_dir: Path
) -> AsyncIterator[Callable[..., Any]]:
    """``app = await start(MAX_UPLOAD_BYTES="...")``: the bot, with those settings."""
    stack: list[Any] = []

    async def begin(**env: str) -> Any:
        manager = running_bot(tg, db_url, presets_dir, ADMIN_IDS=str(ADMIN), **env)
        stack.append(manager)
        return await manager.__aenter__()

    yield begin
    for manager in reversed(stack):
        await manager.__aexit__(None, None, None)


def stored(app: Any) -> list[ImageRow]:
    with app.bot_data.sessionmaker() as s:
        return list(s.scalars(select(ImageRow)))


def noise_jpeg(width: int, height: int, **options: Any) -> bytes:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    return encoded(Image.fromarray(pixels, "RGB"), "JPEG", quality=90, **options)


# -- problem 3: decompression bombs -----------------------------------------------------------


async def test_a_decompression_bomb_is_too_many_pixels_and_no_admin_hears_of_it(
    tg: FakeTelegram, start: Start
) -> None:
    app = await start()
    alice, admin = Person(tg), Person(tg, user_id=ADMIN)
    bomb = png_bomb(50_000, 50_000)  # 2.5 gigapixels: past Pillow's error threshold
    assert len(bomb) < 200
    alice.send_document(bomb, file_name="tiny.png", mime_type="image/png")
    told = await alice.wait_reply("too large")
    assert told.text == "That picture is too large for me (at most 40 megapixels)."
    # Between Pillow's warning and its error (89-179 megapixels), with our own limit above it.
    mark = len(alice.messages)
    alice.send_document(png_bomb(10_000, 10_000), file_name="w.png", mime_type="image/png")
    await alice.wait_reply("too large", after=mark)
    assert not stored(app)
    # A message to the admin would have been sent by now, before the answer (on_error).
    mark = len(alice.messages)
    alice.command("help")
    await alice.wait_reply("How it works", after=mark)
    assert admin.messages == []


async def test_pillows_warning_range_is_refused_whatever_our_limit(
    tg: FakeTelegram, start: Start
) -> None:
    await start(MAX_UPLOAD_PIXELS="500000000")  # above Pillow's own guard
    alice, admin = Person(tg), Person(tg, user_id=ADMIN)
    alice.send_document(png_bomb(10_000, 10_000), file_name="w.png", mime_type="image/png")
    told = await alice.wait_reply("too large")
    assert "at most 89 megapixels" in told.text  # Pillow's guard, not the 500 configured
    assert admin.messages == []


# -- problem 5: what a download may cost, and what is kept -------------------------------------


async def test_what_is_not_a_picture_or_too_large_is_refused_before_any_download(
    tg: FakeTelegram, start: Start
) -> None:
    await start()
    alice = Person(tg)
    cases = [
        (
            lambda: alice.send_document(
                b"%PDF-1.4\n" + b"x" * 50_000, file_name="cv.pdf", mime_type="application/pdf"
            ),
            "not a picture",
        ),
        (
            # (An MP4 or a GIF file is a clip, and read: tests/bot/test_bot_video.py.)
            lambda: alice.send_document(
                b"\0" * 1000, file_name="a.mov", mime_type="video/quicktime"
            ),
            "not a picture",
        ),
        (lambda: alice.send_document(b"", claimed_size=25 * 2**20), "That file is 25 MB"),
    ]
    for act, expected in cases:
        mark = len(alice.messages)
        act()
        await alice.wait_reply(expected, after=mark)
    assert tg.calls_of("getFile") == [] and tg.files_downloaded() == []


async def test_without_a_size_from_telegram_the_download_stops_at_the_limit(
    tg: FakeTelegram, start: Start
) -> None:
    await start(MAX_UPLOAD_BYTES=str(256 * 1024))
    alice = Person(tg)
    # 16 MB (getFile hands out up to 20), and Telegram says nothing of its size.
    huge = b"\xff\xd8\xff" + bytes(16 * 2**20)
    alice.send_document(huge, file_name="big.jpg", mime_type=None, hide_size=True)
    told = await alice.wait_reply("the most I can take")
    assert told.text == "That file is larger than 0.25 MB, the most I can take."
    (path,) = tg.files_downloaded()
    # The bot hung up soon after 256 KB; what was sent beyond is what the sockets' buffers
    # took before it did, a few megabytes at most, never the 16.
    assert tg.file_bytes_sent[path] < 8 * 2**20


async def test_a_picture_without_a_size_within_the_limit_is_taken(
    tg: FakeTelegram, start: Start
) -> None:
    app = await start()
    alice = Person(tg)
    alice.send_document(photo(300, 200), file_name="p.jpg", mime_type=None, hide_size=True)
    await alice.wait_reply("Got your photo")
    assert [(row.width, row.height) for row in stored(app)] == [(300, 200)]


async def test_pictures_are_kept_at_the_engines_largest_size_without_their_metadata(
    tg: FakeTelegram, start: Start
) -> None:
    app = await start()
    alice = Person(tg)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the picture is kept upright
    exif[0x010F] = "SecretCam"  # the camera's maker; GPS would be kept the same way
    sent = noise_jpeg(5000, 2000, exif=exif.tobytes())
    alice.send_document(sent, file_name="big.jpg")
    await alice.wait_reply("Got your photo", timeout=30)
    (row,) = stored(app)
    kept = Image.open(io.BytesIO(row.data))
    assert (row.width, row.height) == kept.size == (1638, MAX_PICTURE_SIDE)
    assert row.mime == "image/jpeg" and kept.format == "JPEG"
    assert not kept.getexif() and b"SecretCam" not in row.data
    assert len(row.data) < len(sent)


async def test_each_persons_pictures_an_hour_are_limited_with_a_friendly_answer(
    tg: FakeTelegram, start: Start
) -> None:
    app = await start(MAX_UPLOADS_PER_HOUR="2")
    alice, boris = Person(tg), Person(tg, language_code="ru")
    alice.send_photo(photo())
    await alice.wait_reply("Got your photo")
    mark = len(alice.messages)
    alice.send_document(b"not a picture at all", file_name="x.jpg")  # counts: downloaded
    await alice.wait_reply("not a picture", after=mark)
    downloads = len(tg.files_downloaded())
    mark = len(alice.messages)
    alice.send_photo(photo(90, 60))
    told = await alice.wait_reply("this hour", after=mark)
    assert told.text == "That is 2 pictures this hour, my limit per person. Please try again later."
    assert len(tg.files_downloaded()) == downloads  # refused before downloading it
    assert len(stored(app)) == 1
    boris.send_photo(photo())  # someone else's allowance is their own
    await boris.wait_reply("Фото получено")
    with app.bot_data.sessionmaker() as s:
        assert [u.sha256 is None for u in s.scalars(select(Upload).order_by(Upload.id))] == [
            False,
            True,
            False,
        ]


async def test_each_persons_bytes_kept_are_limited_with_a_friendly_answer(
    tg: FakeTelegram, start: Start
) -> None:
    app = await start(MAX_STORED_MB_PER_USER="1")
    alice = Person(tg, language_code="ru")
    big = noise_jpeg(1200, 1000)  # about 1 MB as stored: one fits, two do not
    alice.send_document(noise_jpeg(600, 500), file_name="a.jpg")
    await alice.wait_reply("Фото получено")
    mark = len(alice.messages)
    alice.send_document(big, file_name="b.jpg")
    told = await alice.wait_reply("предел", after=mark)
    assert "1 МБ" in told.text
    assert len(stored(app)) == 1
    with app.bot_data.sessionmaker() as s:  # the refused one cost a download: it counts
        assert [u.sha256 is None for u in s.scalars(select(Upload).order_by(Upload.id))] == [
            False,
            True,
        ]
