"""The bot's own transactions on the database (bot/store/), on SQLite and PostgreSQL alike.

A picture someone sends is stored and, unless a photo already waits for its style, becomes
the waiting photo, in one transaction; a job made of the waiting photo uses it up in the
transaction that queues it, and a job a limit refuses leaves it waiting. People's settings are
read through a copy in memory that their own setters keep current.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.store.jobs import set_status_message, submit_job
from bot.store.people import People
from bot.store.uploads import (
    UploadLimits,
    bytes_kept,
    check_allowance,
    forget_uploads,
    record_upload,
    sent_last_hour,
)
from bot.store.waiting import NothingWaiting, Taken, take_picture, waiting_photo
from bot.uploads import UploadRejected
from engine.contract import PhotoParams
from engine.jobs.models import ChatSession, Image, Job, Upload, User, utcnow
from engine.jobs.queue import QueueFull

Maker = sessionmaker[Session]
ALICE = 7001
LIMITS: dict[str, Any] = {
    "max_queued_per_user": 1,
    "max_per_hour_per_user": 10,
    "max_queued_total": 100,
    "max_attempts": 3,
}
PARAMS = PhotoParams(preset="fast")
ROOMY = UploadLimits(per_hour=1000, stored_bytes=10**9)


def take(maker: Maker, data: bytes, limits: UploadLimits = ROOMY, user_id: int = ALICE) -> Taken:
    with maker.begin() as s:
        return take_picture(
            s,
            user_id=user_id,
            chat_id=user_id,
            data=data,
            mime="image/jpeg",
            width=4,
            height=3,
            limits=limits,
        )


def waiting(maker: Maker) -> str | None:
    with maker.begin() as s:
        return waiting_photo(s.get(ChatSession, ALICE))


def submit(maker: Maker, content: str | None, style: str, **kw: Any) -> int:
    with maker.begin() as s:
        job_id, _ = submit_job(
            s,
            user_id=ALICE,
            chat_id=ALICE,
            content_sha=content,
            styles=[(style, 1.0)],
            params=PARAMS,
            **LIMITS,
            **kw,
        )
        return job_id


def test_the_first_picture_waits_and_the_second_is_its_style(maker: Maker) -> None:
    photo = take(maker, b"photo")  # a person the database has never seen
    assert photo.waiting is None
    assert waiting(maker) == photo.sha
    style = take(maker, b"style")
    assert (style.waiting, waiting(maker)) == (photo.sha, photo.sha)  # still waits until queued
    submit(maker, photo.sha, style.sha, uses_waiting=True)
    assert waiting(maker) is None
    assert take(maker, b"next photo").waiting is None  # a fresh start


def test_a_refused_job_leaves_the_photo_waiting(maker: Maker) -> None:
    first = take(maker, b"first")
    submit(maker, first.sha, first.sha, uses_waiting=True)
    second = take(maker, b"second")
    with pytest.raises(QueueFull):  # one queued job per person (LIMITS)
        submit(maker, second.sha, second.sha, uses_waiting=True)
    assert waiting(maker) == second.sha


def test_a_job_not_made_of_the_waiting_photo_leaves_it(maker: Maker) -> None:
    older = take(maker, b"older photo")
    submit(maker, older.sha, older.sha, uses_waiting=True)
    photo = take(maker, b"photo")
    with maker.begin() as s:  # the older job done, so that the limit lets another in
        s.execute(update(Job).values(state="done"))
    submit(maker, older.sha, photo.sha)  # say, "again" on the older result
    assert waiting(maker) == photo.sha


def test_a_preset_tapped_reads_the_waiting_photo_in_the_queueing_transaction(
    maker: Maker,
) -> None:
    style = take(maker, b"a style")  # nobody's photo waits: this one becomes it
    assert waiting(maker) == style.sha
    job_id = submit(maker, None, style.sha)  # None: the waiting photo
    with maker() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.content_sha == style.sha
    assert waiting(maker) is None  # used up
    with pytest.raises(NothingWaiting):  # a second tap: nothing waits any more
        submit(maker, None, style.sha)


def test_a_job_for_someone_the_database_does_not_know_creates_them(maker: Maker) -> None:
    # Say, a button from before /forget: the person's row is made in the queueing transaction.
    photo = take(maker, b"photo")
    with maker.begin() as s:
        job_id, place = submit_job(
            s,
            user_id=ALICE + 1,
            chat_id=ALICE + 1,
            content_sha=photo.sha,
            styles=[(photo.sha, 1.0)],
            params=PARAMS,
            **LIMITS,
        )
    with maker() as s:
        assert s.get(User, ALICE + 1) is not None
        job = s.get(Job, job_id)
        assert job is not None and (job.user_id, job.state, place) == (ALICE + 1, "queued", 1)


def test_the_status_message_is_remembered_and_an_unknown_job_is_no_error(maker: Maker) -> None:
    photo = take(maker, b"photo")
    job_id = submit(maker, photo.sha, photo.sha, uses_waiting=True)
    with maker.begin() as s:
        set_status_message(s, job_id=job_id, message_id=4242)
        set_status_message(s, job_id=job_id + 1000, message_id=1)
    with maker() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.status_message_id == 4242


async def test_people_keep_their_copy_in_memory_current_in_their_own_setters(
    maker: Maker,
) -> None:
    people = People(maker)
    first = await people.get(ALICE, telegram_language="ru-RU")  # first contact: the row is made
    assert (first.language, first.quality, first.strength) == ("ru", "balanced", 1.0)
    changed = await people.set_setting(ALICE, "quality", "fast")
    with maker.begin() as s:  # behind the copy's back: the copy is not read again
        row = s.get(User, ALICE)
        assert row is not None and row.quality == "fast"
        row.quality = "high"
    assert (await people.get(ALICE)).quality == changed.quality == "fast"
    assert (await people.set_language(ALICE, "en")).language == "en"
    assert (await people.get(ALICE)).language == "en"
    with maker() as s:
        row = s.get(User, ALICE)
        assert row is not None and (row.language, row.quality) == ("en", "high")


# -- each person's allowance of pictures ------------------------------------------------------


def test_pictures_an_hour_are_counted_refused_ones_too(maker: Maker) -> None:
    limits = UploadLimits(per_hour=3, stored_bytes=10**9)
    take(maker, b"one", limits)
    take(maker, b"two", limits)
    with maker.begin() as s:  # downloaded and refused: it cost a download all the same
        record_upload(s, user_id=ALICE, sha=None, size=5000)
    with pytest.raises(UploadRejected) as caught:
        take(maker, b"three", limits)
    assert (caught.value.key, caught.value.values) == ("limit_uploads_hourly", {"limit": 3})
    with maker() as s:  # nothing was stored for the refused one
        assert s.scalar(select(func.count()).select_from(Image)) == 2
    take(maker, b"three", limits, user_id=ALICE + 1)  # someone else's allowance is their own
    # An hour later the allowance is whole again.
    with maker.begin() as s:
        s.execute(update(Upload).values(created_at=utcnow() - timedelta(hours=1, seconds=1)))
        assert sent_last_hour(s, user_id=ALICE) == 0
    take(maker, b"three", limits)


def test_bytes_kept_count_each_stored_picture_once(maker: Maker) -> None:
    limits = UploadLimits(per_hour=1000, stored_bytes=10)
    take(maker, b"12345", limits)
    take(maker, b"12345", limits)  # the same picture again: kept once
    take(maker, b"678", limits)
    with maker() as s:
        assert bytes_kept(s, user_id=ALICE) == 8
    with pytest.raises(UploadRejected) as caught:
        take(maker, b"abc", limits)  # 11 bytes would be kept
    assert caught.value.key == "limit_stored"
    with maker.begin() as s:
        check_allowance(s, user_id=ALICE, limits=limits, adding=2)  # 10 is within it
        # A picture pruned meanwhile is no longer kept, and no longer counts.
        s.execute(update(ChatSession).values(content_sha=None))
        s.execute(delete(Image).where(Image.data == b"12345"))
        assert bytes_kept(s, user_id=ALICE) == 3
    take(maker, b"abc", limits)


def test_a_picture_kept_already_may_be_sent_again_at_the_limit(maker: Maker) -> None:
    limits = UploadLimits(per_hour=1000, stored_bytes=8)
    take(maker, b"12345", limits)
    take(maker, b"678", limits)  # 8 of 8 bytes kept
    # The same photo again (another style for it) adds nothing to what is kept.
    assert take(maker, b"12345", limits).sha == hashlib.sha256(b"12345").hexdigest()
    # Someone else sending the same bytes: stored once, but new to them, so they count.
    with pytest.raises(UploadRejected):
        take(maker, b"12345", UploadLimits(per_hour=1000, stored_bytes=4), user_id=ALICE + 1)
    with pytest.raises(UploadRejected) as caught:
        take(maker, b"9", limits)  # anything new is one byte too many
    assert caught.value.key == "limit_stored"


def test_rows_that_no_longer_count_are_forgotten(maker: Maker) -> None:
    take(maker, b"kept")
    take(maker, b"pruned")
    with maker.begin() as s:
        record_upload(s, user_id=ALICE, sha=None, size=1)
        s.execute(update(ChatSession).values(content_sha=None))
        s.execute(delete(Image).where(Image.data == b"pruned"))
        assert forget_uploads(s) == 0  # within the hour they all still count
    with maker.begin() as s:
        s.execute(update(Upload).values(created_at=utcnow() - timedelta(hours=2)))
        assert forget_uploads(s) == 2  # the refused one, and the pruned one
        assert [u.sha256 is not None for u in s.scalars(select(Upload))] == [True]
