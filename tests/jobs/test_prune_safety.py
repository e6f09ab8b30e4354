"""Prune never deletes a picture a job is about to use: not one submitted at the same moment
(two real transactions at once, on SQLite and PostgreSQL), and not a preset's painting that the
bot keeps by hash (a pin)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine.jobs import blobs, prune, queue
from engine.jobs.models import Image, utcnow
from tests.support.jobs import FAST, Maker

pytestmark = pytest.mark.timeout(60)

KEEP = timedelta(days=1)


def old_picture(maker: Maker, data: bytes) -> str:
    """A picture stored three days ago that no job refers to any more."""
    with maker.begin() as s:
        sha = blobs.put_image(s, data, mime="image/jpeg", width=8, height=8)
        s.execute(update(Image).where(Image.sha256 == sha).values(created_at=utcnow() - 3 * KEEP))
    return sha


def new_picture(maker: Maker, data: bytes) -> str:
    with maker.begin() as s:
        return blobs.put_image(s, data, mime="image/jpeg", width=8, height=8)


def stored(maker: Maker, sha: str) -> bool:
    with maker() as s:
        return s.get(Image, sha) is not None


def submit_in_thread(
    maker: Maker, user: int, content: str, style: str, outcome: dict[str, object]
) -> threading.Thread:
    def work() -> None:
        try:
            with maker.begin() as s:
                outcome["job"] = queue.submit(
                    s,
                    user_id=user,
                    chat_id=user,
                    content_sha=content,
                    styles=[(style, 1.0)],
                    params=FAST,
                ).id
        except Exception as e:  # what the submission met, for the test to judge
            outcome["error"] = e

    return threading.Thread(target=work)


def test_a_submission_during_prune_either_keeps_its_picture_or_is_refused(
    maker: Maker, people: list[int]
) -> None:
    """Problem 7: prune had read which pictures are in use, a job referring to one by hash
    (a preset's painting) was committed, and prune deleted the picture under it."""
    style = old_picture(maker, b"a preset painting")
    content = new_picture(maker, b"a photo just sent")
    outcome: dict[str, object] = {}
    with maker.begin() as s:
        assert prune.prune(s, older_than=KEEP).images == 1  # deleted, not yet committed
        submitting = submit_in_thread(maker, people[0], content, style, outcome)
        submitting.start()
        time.sleep(0.5)  # the submission runs (or waits) while prune's transaction is open
    submitting.join(20)
    assert not submitting.is_alive()
    if "job" in outcome:  # then its picture must be there
        assert stored(maker, style), "a job was queued whose style picture is gone"
    else:
        assert isinstance(outcome.get("error"), queue.MissingPicture), outcome
        assert not stored(maker, style)


def test_prune_during_a_submission_keeps_the_picture_it_uses(
    maker: Maker, people: list[int]
) -> None:
    """Problem 7, the other order: the submission's transaction is open when prune runs."""
    style = old_picture(maker, b"a preset painting")
    content = new_picture(maker, b"a photo just sent")
    pruned: list[prune.Pruned] = []

    def prune_now() -> None:
        with maker.begin() as s:
            pruned.append(prune.prune(s, older_than=KEEP))

    with maker.begin() as s:
        queue.submit(
            s,
            user_id=people[0],
            chat_id=people[0],
            content_sha=content,
            styles=[(style, 1.0)],
            params=FAST,
        )
        pruning = threading.Thread(target=prune_now)
        pruning.start()
        time.sleep(0.5)  # prune runs (or waits) while the submission is not committed
    pruning.join(20)
    assert not pruning.is_alive() and pruned
    assert stored(maker, style)


def test_a_pinned_picture_is_never_pruned_and_a_dropped_pin_lets_it_go(maker: Maker) -> None:
    """Problem 7: the bot keeps preset paintings by hash; prune deleted them once no job used
    them, and the next job with that preset failed "a picture for this job is missing"."""
    painting = old_picture(maker, b"the preset's painting")
    with maker.begin() as s:
        blobs.pin_image(s, painting, owner="preset:starry-night")
    with maker.begin() as s:
        assert prune.prune(s, older_than=KEEP).images == 0
    assert stored(maker, painting)
    with maker.begin() as s:  # the operator removed the preset: the bot keeps other pins only
        blobs.keep_pins(s, prefix="preset:", owners=set())
    with maker.begin() as s:
        assert prune.prune(s, older_than=KEEP).images == 1
    assert not stored(maker, painting)
