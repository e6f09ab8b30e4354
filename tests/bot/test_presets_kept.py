"""A preset's painting stays in the database while the bot offers the preset, however long
nobody picks it: the bot keeps it by hash, so prune must too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.jobs import blobs
from engine.jobs.models import Job, utcnow
from engine.jobs.prune import prune
from tests.support.bot_harness import running_bot
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.jobs import Maker, claim, complete
from tests.support.pictures import photo

pytestmark = pytest.mark.timeout(120)


async def pick_painting(person: Person) -> None:
    mark = len(person.messages)
    person.send_photo(photo(96, 64))
    gallery = await person.wait_message(
        lambda m: any(b.get("text") == "1. Painting 1" for b in m.buttons), after=mark
    )
    person.press(gallery, "1. Painting 1")
    await person.wait_reply("queue", after=mark)


def style_of_last_job(maker: Maker) -> str:
    with maker() as s:
        jobs = s.query(Job).order_by(Job.id).all()
        return str(jobs[-1].styles[0]["sha256"])


async def test_a_month_without_anyone_picking_a_preset_keeps_its_painting(
    tg: FakeTelegram, db_url: str, presets_dir: Path
) -> None:
    """Problem 7: prune deleted the painting of a preset the running bot still kept by hash;
    the next job with it failed "a picture for this job is missing"."""
    async with running_bot(tg, db_url, presets_dir) as application:
        maker = application.bot_data.sessionmaker
        alice, bob = Person(tg), Person(tg)
        await pick_painting(alice)
        taken = claim(maker, "w")
        assert taken is not None
        assert complete(maker, taken, result_sha=taken.content_sha)
        await alice.wait_message(lambda m: m.kind == "photo")
        await tg.wait_for(lambda: _delivered(maker, taken.id))
        # A month and more later, the daily prune: alice's job and pictures are forgotten.
        with maker.begin() as s:
            pruned = prune(s, older_than=timedelta(days=30), now=utcnow() + timedelta(days=40))
        assert pruned.jobs == 1
        await pick_painting(bob)
        with maker() as s:
            assert blobs.get_image(s, style_of_last_job(maker))  # the painting is still there


def _delivered(maker: Maker, job_id: int) -> bool:
    with maker() as s:
        found = s.get(Job, job_id)
        return found is not None and found.delivered_at is not None
