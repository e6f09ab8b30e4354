"""Posters in the bot: offered under a result only while a live GPU worker paints them, with
the time they take; a tap queues one; with the GPU gone, a tap is told why nothing happens.

The workers are registry rows written as ``python -m engine work`` writes them
(engine.bridge.StyleRunner.describe); the jobs are finished by hand, as in
test_bot_delivery.py.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from bot import keyboards
from bot.callback_data import Rerun, encode, parse
from bot.store.people import ensure_person
from bot.store.posters import PosterOffer, poster_estimate, poster_offer
from bot.texts import Texts
from engine.contract import poster_tag
from engine.jobs import blobs, queue, registry
from engine.jobs.models import Job, utcnow
from tests.support.bot_harness import running_bot
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.jobs import Maker, claim
from tests.support.jobs import submit as queue_job
from tests.support.pictures import draw_image

H200 = f"cuda:0 (NVIDIA H200, 139 GiB, {poster_tag(8192)})"
L4 = f"cuda:1 (NVIDIA L4, 22 GiB, {poster_tag(4096)})"


@pytest.fixture
async def application(tg: FakeTelegram, db_url: str, presets_dir: Path) -> AsyncIterator[Any]:
    async with running_bot(tg, db_url, presets_dir) as app:
        yield app


def worker(maker: Maker, worker_id: str, device: str, *, seen_ago: float = 0.0) -> None:
    """A worker as the registry holds it, last seen ``seen_ago`` seconds ago."""
    with maker.begin() as s:
        registry.register_worker(
            s, worker_id=worker_id, hostname="gpu-box", pid=1, device=device,
            now=utcnow() - timedelta(seconds=seen_ago),
        )


def finished(maker: Maker, person: Person, *, result_size: tuple[int, int] | None = None) -> int:
    """A job of the person's, finished by hand; its id. ``result_size``: the size its result
    is stored as (a poster's, say), if not the picture's own."""
    with maker.begin() as s:
        ensure_person(s, user_id=person.id, telegram_language=None)
        data = draw_image(64, 48, stripes=False)
        content = blobs.put_image(s, data, mime="image/jpeg", width=64, height=48)
    job_id = queue_job(maker, person.id, content)
    claimed = claim(maker, "painter", lease=60)
    assert claimed is not None and claimed.id == job_id
    with maker.begin() as s:
        if result_size is not None:  # other bytes: a picture is stored once, by its hash
            data = draw_image(64, 48, stripes=True)
        size = result_size or Image.open(io.BytesIO(data)).size
        sha = blobs.put_image(s, data, mime="image/jpeg", width=size[0], height=size[1])
        queue.complete(s, job_id, worker_id="painter", token=str(claimed.claim_token),
                       result_sha=sha, run_seconds=1.0)
    return job_id


def poster_buttons(message: Any) -> list[str]:
    return [b["text"] for b in message.buttons if b["text"].startswith("🖼")]


def test_no_poster_is_offered_without_a_live_gpu_worker(maker: Maker) -> None:
    with maker.begin() as s:
        assert poster_offer(s) is None
    worker(maker, "cpu-1", "cpu")
    # A CPU worker that was told it paints posters still does not make the bot offer them.
    worker(maker, "cpu-2", f"cpu ({poster_tag(2048)})")
    worker(maker, "gone", H200, seen_ago=registry.WORKER_LIVE_SECONDS + 5)
    worker(maker, "stopped", H200)
    with maker.begin() as s:
        registry.worker_stopped(s, "stopped")
    with maker.begin() as s:
        assert poster_offer(s) is None


def test_a_live_gpu_worker_offers_the_largest_poster_it_paints(maker: Maker) -> None:
    worker(maker, "cpu-1", "cpu")
    worker(maker, "l4", L4)
    with maker.begin() as s:
        assert poster_offer(s) == PosterOffer(side=4096, seconds=poster_estimate(4096))
    worker(maker, "h200", H200, seen_ago=30)
    with maker.begin() as s:
        offer = poster_offer(s)
    assert offer is not None and offer.side == 8192
    # The time said is the rate's: four times the pixels of 4096 px, four times as long.
    assert poster_estimate(8192) == pytest.approx(4 * poster_estimate(4096))
    assert offer.minutes == max(1, round(poster_estimate(8192) / 60))


def test_the_poster_button_says_the_size_and_the_time_and_names_the_job() -> None:
    t = Texts("en")
    offer = PosterOffer(side=4096, seconds=130)
    markup = keyboards.result(7, t, file_button=False, poster=offer)
    (button,) = [b for row in markup.inline_keyboard for b in row if b.text.startswith("🖼")]
    assert button.text == "🖼 Poster, 4096 px (about 2 min)"
    assert parse(button.callback_data) == Rerun(7, "p")  # type: ignore[arg-type]
    assert encode(Rerun(7, "p")) == button.callback_data
    plain = keyboards.result(7, t, file_button=False)
    assert not [b for row in plain.inline_keyboard for b in row if b.text.startswith("🖼")]


async def test_a_result_offers_a_poster_only_while_a_gpu_worker_lives_and_a_tap_queues_it(
    tg: FakeTelegram, application: Any
) -> None:
    maker = application.bot_data.sessionmaker
    alice = Person(tg)
    worker(maker, "cpu-1", "cpu")
    finished(maker, alice)
    plain = await alice.wait_message(lambda m: m.kind == "photo")
    assert poster_buttons(plain) == []

    worker(maker, "h200", H200)
    first = finished(maker, alice)
    offered = await alice.wait_message(lambda m: m.kind == "photo" and bool(poster_buttons(m)),
                                       after=alice.messages.index(plain) + 1)
    minutes = max(1, round(poster_estimate(8192) / 60))
    assert poster_buttons(offered) == [f"🖼 Poster, 8192 px (about {minutes} min)"]

    alice.press(offered, poster_buttons(offered)[0])
    await tg.wait_for(lambda: len(jobs_of(maker, alice)) == 3)
    poster = jobs_of(maker, alice)[-1]
    original = next(j for j in jobs_of(maker, alice) if j.id == first)
    assert poster.params["poster"] is True and poster.params["size"] == 8192
    assert poster.content_sha == original.content_sha and poster.styles == original.styles
    await tg.wait_for(lambda: any("8192 px poster" in (c.params.get("text") or "")
                                  for c in tg.calls_of("answerCallbackQuery")))

    # The GPU worker stops: a tap on the old button queues nothing and says why.
    with maker.begin() as s:
        registry.worker_stopped(s, "h200")
    alice.press(offered, poster_buttons(offered)[0])
    await tg.wait_for(lambda: any("Posters need a GPU" in (c.params.get("text") or "")
                                  for c in tg.calls_of("answerCallbackQuery")))
    assert len(jobs_of(maker, alice)) == 3


async def test_a_poster_gets_no_poster_button(tg: FakeTelegram, application: Any) -> None:
    maker = application.bot_data.sessionmaker
    alice = Person(tg)
    worker(maker, "h200", H200)
    finished(maker, alice, result_size=(8192, 6144))  # as large as the GPU's posters
    result = await alice.wait_message(lambda m: m.kind in ("photo", "document"))
    assert result.buttons and poster_buttons(result) == []
    finished(maker, alice)  # a small result: the offer is there
    after = alice.messages.index(result) + 1
    small = await alice.wait_message(lambda m: m.kind == "photo", after=after)
    assert len(poster_buttons(small)) == 1


def jobs_of(maker: Maker, person: Person) -> list[Job]:
    with maker() as s:
        return list(s.scalars(select(Job).where(Job.user_id == person.id).order_by(Job.id)))
