"""Clips through the whole service: a person sends an animation, a video or a round video note,
picks a painting, and gets the clip back painted (an animation without sound, a video with
it); clips the bot cannot take get a clear answer, and the bot carries on.

The clips are tiny synthetic ones (tests/video/clips.py: a square moving over a gradient),
made here with PyAV; the worker paints them on the CPU at 64 px with a few steps.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from sqlalchemy import create_engine, select

from engine.contract import JobKind
from engine.jobs.models import Job
from tests.support.bot_harness import BotProcess, small_settings
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.pictures import photo
from tests.video.clips import moving_square, write_test_clip

pytestmark = pytest.mark.slow

RESULT_TIMEOUT = 240.0  # the worker's first start loads torch and the weights; then 6 frames


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0-255, at ``b``'s size."""
    diff = ImageChops.difference(a.convert("RGB").resize(b.size), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def _clip(tmp_path: Path, name: str, frames: int, *, fps: float = 6, **kw: object) -> bytes:
    path = write_test_clip(tmp_path / name, moving_square(frames, 64, 48), fps=fps, **kw)  # type: ignore[arg-type]
    return path.read_bytes()


async def test_an_animation_comes_back_painted_as_an_animation(
    tg: FakeTelegram, bot_process: BotProcess, database_url: str, tmp_path: Path
) -> None:
    alice, bob = Person(tg), Person(tg, first_name="Bob")
    small_settings(database_url, alice)
    small_settings(database_url, bob)
    await bot_process.start()

    alice.send_animation(_clip(tmp_path, "a.mp4", 6), width=64, height=48)
    gallery = await alice.wait_message(lambda m: m.kind == "photo" and "Got your clip" in m.text)
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    # The status message is a picture (a preview can replace it): the clip's first frame.
    assert status.kind == "photo"
    first = alice.largest_photo(status)
    assert _difference(first, moving_square(1, 64, 48)[0]) < 12
    result = await alice.wait_message(
        lambda m: m.kind == "animation" and "Here it is" in m.text, timeout=RESULT_TIMEOUT
    )
    film = tg.animations[result.message["animation"]["file_id"]]
    assert (film.frames, film.width, film.height, film.sound) == (6, 64, 48, False)
    assert abs(film.seconds - 1.0) < 0.2  # 6 frames at 6 a second: as long as the clip
    assert {b["text"] for b in result.buttons} >= {"🎨 Another style", "➕ Stronger"}
    await alice.wait_edit(status, lambda m: m.text == "Done." and not m.buttons)

    # A round video note with sound comes back as a video, with its sound.
    bob.send_video_note(_clip(tmp_path, "note.mp4", 4, audio_codec="aac"), length=64)
    gallery = await bob.wait_message(lambda m: m.kind == "photo" and "Got your clip" in m.text)
    bob.press(gallery, "2. Painting 2")
    video = await bob.wait_message(
        lambda m: m.kind == "video" and "Here it is" in m.text, timeout=RESULT_TIMEOUT
    )
    film = tg.videos[video.message["video"]["file_id"]]
    assert (film.frames, film.sound) == (4, True)


async def test_clips_the_bot_cannot_take_get_a_clear_answer_and_it_carries_on(
    tg: FakeTelegram, bot_process: BotProcess, tmp_path: Path, database_url: str
) -> None:
    await bot_process.start("--no-engine")
    alice = Person(tg)
    cases = [
        # Bytes that are no video at all.
        (lambda: alice.send_animation(b"GIF89a" + b"\0" * 200), "not a video I can read"),
        # Telegram says it is a minute long: refused before the download.
        (lambda: alice.send_video(b"\0" * 64, duration=60), "60.0 s long"),
        # A file that says nothing of its length, and is too long once read (12 s, 1 a second).
        (
            lambda: alice.send_document(
                _clip(tmp_path, "long.mp4", 12, fps=1), file_name="long.mp4", mime_type="video/mp4"
            ),
            "12.0 s long; I can paint clips of up to 10 s",
        ),
    ]
    for act, expected in cases:
        mark = len(alice.messages)
        act()
        await alice.wait_reply(expected, after=mark)
    # The bot carries on: a GIF file of a few frames is taken as a clip...
    mark = len(alice.messages)
    alice.send_document(_clip(tmp_path, "ok.gif", 4), file_name="ok.gif", mime_type="image/gif")
    await alice.wait_message(lambda m: "Got your clip" in m.text, after=mark)
    # ...and a GIF of one frame as a picture: the style of the clip waiting, which is queued.
    mark = len(alice.messages)
    alice.send_document(_clip(tmp_path, "one.gif", 1), file_name="one.gif", mime_type="image/gif")
    queued = await alice.wait_message(lambda m: "in the queue" in m.text, after=mark)
    assert [b["text"] for b in queued.buttons] == ["✖ Cancel"]  # no swap: a clip is no style
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            kinds = c.execute(select(Job.kind)).scalars().all()
    finally:
        engine.dispose()
    assert kinds == [JobKind.VIDEO]
    # And a photo is a photo, as before.
    mark = len(alice.messages)
    alice.send_photo(photo())
    await alice.wait_message(lambda m: "Got your photo" in m.text, after=mark)


async def test_the_status_message_shows_the_frames_as_they_are_painted(
    tg: FakeTelegram,
    bot_process: BotProcess,
    bot_env: dict[str, str],
    database_url: str,
    tmp_path: Path,
) -> None:
    import av

    bot_env.update(PREVIEW_SECONDS="0.1", JOB_STEPS="24")  # long enough to watch
    alice = Person(tg)
    small_settings(database_url, alice)
    await bot_process.start()
    alice.send_animation(_clip(tmp_path, "a.mp4", 8), width=64, height=48)
    gallery = await alice.wait_message(lambda m: m.kind == "photo" and "Got your clip" in m.text)
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    result = await alice.wait_message(
        lambda m: m.kind == "animation" and "Here it is" in m.text, timeout=RESULT_TIMEOUT
    )
    await alice.wait_edit(status, lambda m: m.text == "Done.")
    shown = [
        c
        for c in tg.calls_of("editMessageMedia")
        if str(c.params.get("message_id")) == str(status.message_id)
    ]
    assert shown, "no frame was shown while the clip was painted"
    # What the status message shows last is a painted frame, not the clip as it came.
    last = alice.largest_photo(status)
    data = alice.download(result.message["animation"]["file_id"])
    with av.open(io.BytesIO(data), mode="r") as film:
        painted = [f.to_image() for f in film.decode(video=0)]
    inputs = moving_square(8, 64, 48)
    nearest_painted = min(_difference(last, frame) for frame in painted)
    nearest_input = min(_difference(last, frame) for frame in inputs)
    assert nearest_painted < nearest_input / 2  # seen: about 9 against 54
