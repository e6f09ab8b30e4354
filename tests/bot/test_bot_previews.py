"""Live previews and the time-lapse, in process: the bot's application in the test's event loop,
the worker's side played by hand through the queue and engine.jobs.outputs (what a worker
writes), on SQLite and PostgreSQL.

Each test is a way the chat can misbehave, and each checks that the result still comes, once.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from bot import keyboards
from bot.store.people import ensure_person
from bot.texts import Texts
from engine import timelapse
from engine.contract import frame_steps
from engine.jobs import blobs, outputs, prune, queue
from engine.jobs.models import Job, JobFilm, utcnow
from tests.support.bot_harness import delivery_passes, running_bot
from tests.support.fake_telegram import ChatMessage, FakeTelegram, Person
from tests.support.jobs import Maker, claim
from tests.support.jobs import submit as queue_job
from tests.support.pictures import encoded, photo_like

pytestmark = pytest.mark.timeout(90)

WORKER = "w"


@pytest.fixture
async def application(tg: FakeTelegram, db_url: str, presets_dir: Path) -> AsyncIterator[Any]:
    fast = {"DELIVERY_POLL_SECONDS": "0.05", "PROGRESS_EDIT_SECONDS": "0.5"}
    async with running_bot(tg, db_url, presets_dir, **fast) as app:
        yield app


def picture(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    return photo_like(*size, seed, hue=seed)


def jpeg(image: Image.Image) -> bytes:
    return encoded(image, quality=92)


def small(image: Image.Image) -> outputs.Picture:
    return outputs.Picture(jpeg(image), image.width, image.height)


class Run:
    """One job, from the bot's side queued and followed, from the worker's side played by hand."""

    def __init__(self, application: Any, person: Person, photo: Image.Image) -> None:
        self.app = application
        self.maker: Maker = application.bot_data.sessionmaker
        self.person = person
        with self.maker.begin() as s:
            ensure_person(s, user_id=person.id, telegram_language="en")
            self.content = blobs.put_image(
                s, jpeg(photo), mime="image/jpeg", width=photo.width, height=photo.height
            )
        self.job_id = queue_job(self.maker, person.id, self.content)
        self.previews = 0
        self.token = ""  # the claim, once started

    @property
    def status(self) -> Any:
        return self.app.bot_data.delivery.status

    async def follow(self, *, photo: bool = True) -> ChatMessage:
        """Post the status message as submission does; the message, once it is there."""
        t = Texts("en")
        markup = keyboards.queued(self.job_id, t, swap=False)
        self.status.follow(
            self.job_id, self.person.id, t("queued_next"), markup, swap=False, photo=photo
        )
        return await self.person.wait_reply("Next in the queue")

    def start(self) -> None:
        taken = claim(self.maker, WORKER, lease=60)
        assert taken is not None and taken.id == self.job_id
        self.token = str(taken.claim_token)

    def paint(
        self, image: Image.Image, fraction: float, frames: Sequence[outputs.Frame] = ()
    ) -> queue.StopReason | None:
        """What a worker writes at a progress write with a new preview."""
        self.previews += 1
        with self.maker.begin() as s:
            reason = queue.report_progress(
                s,
                self.job_id,
                worker_id=WORKER,
                token=self.token,
                fraction=fraction,
                eta_seconds=5,
                lease_seconds=60,
            )
            assert outputs.record(
                s,
                self.job_id,
                worker_id=WORKER,
                token=self.token,
                preview=(self.previews, 10, small(image)),
                frames=frames,
                fresh=self.previews == 1,
            )
        return reason

    def finish(self, result: Image.Image) -> None:
        with self.maker.begin() as s:
            sha = blobs.put_image(
                s, jpeg(result), mime="image/jpeg", width=result.width, height=result.height
            )
            assert queue.complete(
                s,
                self.job_id,
                worker_id=WORKER,
                token=self.token,
                result_sha=sha,
                run_seconds=3,
            )
            outputs.drop_preview(s, self.job_id)

    def delivered(self) -> bool:
        with self.maker() as s:
            job = s.get(Job, self.job_id)
            return job is not None and job.delivered_at is not None


def shown_picture(person: Person, message: ChatMessage | dict[str, Any]) -> Image.Image:
    """The largest size of the picture a (past state of a) message shows."""
    sizes = (message.message if isinstance(message, ChatMessage) else message)["photo"]
    best = max(sizes, key=lambda size: size["width"] * size["height"])
    return Image.open(io.BytesIO(person.download(best["file_id"]))).convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0-255, at ``b``'s size."""
    diff = ImageChops.difference(a.convert("RGB").resize(b.size), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def media_edits(tg: FakeTelegram, message: ChatMessage) -> list[Any]:
    return [
        c
        for c in tg.calls_of("editMessageMedia")
        if str(c.params.get("message_id")) == str(message.message_id)
    ]


def results_of(person: Person) -> list[ChatMessage]:
    return [m for m in person.messages if m.kind == "photo" and "Here it is" in m.text]


async def test_the_status_message_shows_the_photo_then_the_painting_then_the_result(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    photo, halfway, later, result = (picture(seed) for seed in (1, 2, 3, 4))
    run = Run(application, alice, photo)
    status = await run.follow()
    assert status.kind == "photo" and [b["text"] for b in status.buttons] == ["✖ Cancel"]
    assert difference(shown_picture(alice, status), photo) < 12  # the photo, small
    assert max(status.message["photo"][-1]["width"], status.message["photo"][-1]["height"]) <= 384

    run.start()
    run.paint(halfway, 0.4)
    await alice.wait_edit(status, lambda m: difference(shown_picture(alice, m), halfway) < 12)
    assert "40%" in status.text and "left" in status.text  # the progress bar, in the caption
    run.paint(later, 0.8)
    await alice.wait_edit(status, lambda m: difference(shown_picture(alice, m), later) < 12)
    assert "80%" in status.text and [b["text"] for b in status.buttons] == ["✖ Cancel"]

    run.finish(result)
    (answer,) = [await alice.wait_message(lambda m: m in results_of(alice))]
    await alice.wait_edit(status, lambda m: m.text == "Done." and not m.buttons)
    assert difference(shown_picture(alice, status), result) < 12  # the finished picture
    await tg.wait_for(run.delivered)
    await delivery_passes(application.bot_data.delivery, 5)
    assert len(results_of(alice)) == 1 and answer.kind == "photo"
    assert not tg.calls_of("sendAnimation")


async def test_with_previews_off_the_status_message_is_a_text_as_before(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    run = Run(application, alice, picture(1))
    status = await run.follow(photo=False)
    assert status.kind == "text"
    run.start()
    run.paint(picture(2), 0.5)
    await alice.wait_edit(status, lambda m: "50%" in m.text)
    run.finish(picture(3))
    await alice.wait_edit(status, lambda m: m.text == "Done.")
    assert not tg.calls_of("editMessageMedia") and status.kind == "text"
    assert len(results_of(alice)) == 1


async def test_a_status_message_the_person_deleted_is_left_alone_and_the_result_comes(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    run = Run(application, alice, picture(1))
    status = await run.follow()
    run.start()
    alice.delete(status)
    run.paint(picture(2), 0.3)
    await tg.wait_for(lambda: any(c.error and "not found" in c.error for c in tg.calls))
    tried = len(tg.calls_of("editMessageMedia")) + len(tg.calls_of("editMessageCaption"))
    for n in range(3, 6):  # more progress and pictures: none is tried on the deleted message
        run.paint(picture(n), n / 10)
        await delivery_passes(application.bot_data.delivery, 3)
    run.finish(picture(9))
    await alice.wait_message(lambda m: m in results_of(alice))
    await tg.wait_for(run.delivered)
    await delivery_passes(application.bot_data.delivery, 5)
    assert len(tg.calls_of("editMessageMedia")) + len(tg.calls_of("editMessageCaption")) == tried
    assert len(results_of(alice)) == 1


async def test_pictures_telegram_refuses_give_way_to_captions(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    run = Run(application, alice, picture(1))
    status = await run.follow()
    run.start()
    tg.inject_error("editMessageMedia", code=400, description="Bad Request: MEDIA_INVALID", count=2)
    for tried, fraction in ((1, 0.2), (2, 0.4)):
        run.paint(picture(tried + 1), fraction)
        await tg.wait_for(lambda: len(media_edits(tg, status)) == tried)  # noqa: B023
    run.paint(picture(4), 0.6)  # twice refused: the progress goes on in the caption only
    await alice.wait_edit(status, lambda m: "60%" in m.text)
    assert len(media_edits(tg, status)) == 2
    assert difference(shown_picture(alice, status), picture(1)) < 12  # still the photo
    run.finish(picture(5))
    await alice.wait_edit(status, lambda m: m.text == "Done.")
    await tg.wait_for(run.delivered)
    assert len(results_of(alice)) == 1


async def test_a_preview_under_flood_control_is_dropped_and_other_results_still_come(
    tg: FakeTelegram, application: Any
) -> None:
    alice, bob = Person(tg), Person(tg, first_name="Bob")
    run = Run(application, alice, picture(1))
    status = await run.follow()
    run.start()
    tg.inject_error("editMessageMedia", code=429, retry_after=1, count=1)
    run.paint(picture(2), 0.5)
    await tg.wait_for(lambda: len(media_edits(tg, status)) == 1)
    other = Run(application, bob, picture(7))  # someone else's result, due meanwhile
    with application.bot_data.sessionmaker.begin() as s:
        job = queue.claim(s, worker_id="w2", lease_seconds=60)
        assert job is not None and job.id == other.job_id
        sha = blobs.put_image(s, jpeg(picture(8)), mime="image/jpeg", width=96, height=64)
        assert queue.complete(
            s,
            other.job_id,
            worker_id="w2",
            token=str(job.claim_token),
            result_sha=sha,
            run_seconds=1,
        )
    await bob.wait_message(lambda m: m in results_of(bob))
    await delivery_passes(application.bot_data.delivery, 5)
    assert len(media_edits(tg, status)) == 1  # the refused preview was not sent again
    run.finish(picture(3))
    await tg.wait_for(run.delivered)
    assert len(results_of(alice)) == 1 and len(results_of(bob)) == 1


async def test_a_closing_picture_lost_to_a_server_error_sends_the_result_once(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    run = Run(application, alice, picture(1))
    status = await run.follow()
    run.start()
    tg.inject_error("editMessageMedia", code=502, count=1)  # the "Done." picture
    run.finish(picture(2))
    await alice.wait_message(lambda m: m in results_of(alice))
    await tg.wait_for(run.delivered)
    await delivery_passes(application.bot_data.delivery, 5)
    assert len(results_of(alice)) == 1
    assert media_edits(tg, status)[0].error == "502 Bad Gateway"


async def test_cancelled_half_way_the_picture_stays_and_no_result_comes(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    run = Run(application, alice, picture(1))
    status = await run.follow()
    run.start()
    run.paint(picture(2), 0.5)
    await alice.wait_edit(status, lambda m: difference(shown_picture(alice, m), picture(2)) < 12)
    query = alice.press(status, "✖ Cancel")
    assert (await alice.wait_answer(query))["text"] == "Cancelled."
    await alice.wait_edit(status, lambda m: m.text == "Cancelled." and not m.buttons)
    # The worker learns at its next progress write, and stops.
    assert run.paint(picture(3), 0.6) is queue.StopReason.CANCELLED
    with run.maker.begin() as s:
        assert queue.mark_cancelled(s, run.job_id, worker_id=WORKER, token=run.token)
    await tg.wait_for(run.delivered)
    await delivery_passes(application.bot_data.delivery, 5)
    assert status.text == "Cancelled." and not status.buttons
    # What the person keeps: the painting as far as it got, and no result, no film.
    assert difference(shown_picture(alice, status), picture(2)) < 12
    assert results_of(alice) == [] and not tg.calls_of("sendAnimation")


def frames_for(photo: Image.Image, result: Image.Image, total: int) -> list[outputs.Frame]:
    """A run's frames: the photo turning into the result over ``total`` steps."""
    steps = frame_steps(total)
    return [
        outputs.Frame(position, step, small(Image.blend(photo, result, step / total)))
        for position, step in enumerate(steps, 1)
    ]


async def test_the_time_lapse_is_made_on_request_sent_as_an_animation_and_kept(
    tg: FakeTelegram, application: Any
) -> None:
    alice, mallory = Person(tg), Person(tg, first_name="Mallory")
    photo, result = picture(1), picture(5)
    run = Run(application, alice, photo)
    await run.follow()
    run.start()
    run.paint(picture(3), 0.9, frames_for(photo, result, 100))
    run.finish(result)
    answer = await alice.wait_message(lambda m: m in results_of(alice))
    query = alice.press(answer, "🎬 How it was painted")
    assert (await alice.wait_answer(query))["text"] == "Putting the film together…"
    film = await alice.wait_message(lambda m: m.kind == "animation")
    file_id = film.message["animation"]["file_id"]
    decoded = tg.animations[file_id]
    assert decoded.frames == timelapse.frame_count(48) and decoded.codec == "h264"
    assert 4 <= decoded.seconds <= 8 and (decoded.width, decoded.height) == (96, 64)
    assert film.text == "How it was painted: from your photo to the painting."

    # Pressed again: the same film, not made again.
    query = alice.press(answer, "🎬 How it was painted")
    await alice.wait_answer(query)
    await tg.wait_for(lambda: len(tg.calls_of("sendAnimation")) == 2)
    second = [m for m in alice.messages if m.kind == "animation"][-1]
    assert alice.download(second.message["animation"]["file_id"]) == alice.download(file_id)
    with run.maker() as s:
        assert s.get(JobFilm, run.job_id) is not None

    # Someone else's button (forged) is refused.
    forged = mallory.press_data(answer, f"t:{run.job_id}")
    assert (await mallory.wait_answer(forged))["text"] == "That is not your picture."

    # Once the job is pruned, a friendly answer; the film and the frames went with it.
    with run.maker.begin() as s:
        s.get(Job, run.job_id).finished_at = utcnow() - timedelta(days=40)  # type: ignore[union-attr]
    with run.maker.begin() as s:
        prune.prune(s, older_than=timedelta(days=30))
    query = alice.press(answer, "🎬 How it was painted")
    answered = await alice.wait_answer(query)
    assert "too old" in answered["text"]
    assert len(tg.calls_of("sendAnimation")) == 2 and len(results_of(alice)) == 1


async def test_no_time_lapse_button_without_frames(tg: FakeTelegram, application: Any) -> None:
    alice = Person(tg)
    run = Run(application, alice, picture(1))
    await run.follow()
    run.start()
    run.finish(picture(2))
    answer = await alice.wait_message(lambda m: m in results_of(alice))
    assert "🎬 How it was painted" not in [b["text"] for b in answer.buttons]
    forged = alice.press_data(answer, f"t:{run.job_id}")
    assert (await alice.wait_answer(forged))["text"] == "There is no film of this one."


async def test_live_previews_are_turned_off_in_settings_and_the_status_is_a_text(
    tg: FakeTelegram, application: Any
) -> None:
    alice = Person(tg)
    alice.command("settings")
    menu = await alice.wait_reply("Your settings")
    assert "Live preview while painting: yes" in menu.text
    alice.press(menu, "Live preview")
    await alice.wait_edit(menu, lambda m: "choose a value" in m.text)
    alice.press(menu, "no")
    await alice.wait_edit(menu, lambda m: "Live preview while painting: no" in m.text)
    alice.send_photo(jpeg(picture(1)))
    gallery = await alice.wait_message(lambda m: m.kind == "photo")
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue")
    assert status.kind == "text" and [b["text"] for b in status.buttons] == ["✖ Cancel"]

    alice.command("settings")
    menu = await alice.wait_reply("Your settings", after=len(alice.messages))
    alice.press(menu, "Live preview")
    await alice.wait_edit(menu, lambda m: "choose a value" in m.text)
    alice.press(menu, "yes")
    await alice.wait_edit(menu, lambda m: "Live preview while painting: yes" in m.text)
    mark = len(alice.messages)
    alice.send_photo(jpeg(picture(2)))
    gallery = await alice.wait_message(lambda m: m.kind == "photo", after=mark)
    alice.press(gallery, "1. Painting 1")
    status = await alice.wait_reply("queue", after=mark)
    assert status.kind == "photo"  # the photo just sent (recompressed twice on the way)
    shown = shown_picture(alice, status)
    assert difference(shown, picture(2)) < 20 < difference(shown, picture(1))
