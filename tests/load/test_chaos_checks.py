"""The chaos run's verdict (bench/chaos.py ``check``) cannot rot: it passes a run that kept the
promise and catches each way of breaking it: a duplicate no lost reply explains, a result
that never came, a reachable person's job given up, a job given up without a reason, a job
left unanswered. Fast: the fake Telegram's chats and a SQLite database filled by hand.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from bench.chaos import Figures, check
from bench.load.people import Sent
from engine.contract import PhotoParams
from engine.jobs import blobs, queue
from engine.jobs.db import make_engine, make_sessionmaker
from engine.jobs.models import Job, JobState, User
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.fake_telegram.server import Call
from tests.support.jobs import Maker
from tests.support.pictures import draw_image

WHEN = datetime(2026, 12, 1, 12, 0)


@pytest.fixture
def url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "queue.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def maker(url: str) -> Iterator[Maker]:
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


def job_for(maker: Maker, person: Person) -> int:
    with maker.begin() as s:
        if s.get(User, person.id) is None:
            s.add(User(id=person.id))
        picture = draw_image(32, 24)
        sha = blobs.put_image(s, picture, mime="image/jpeg", width=32, height=24)
        job = queue.submit(
            s,
            user_id=person.id,
            chat_id=person.id,
            content_sha=sha,
            styles=[(sha, 1.0)],
            params=PhotoParams(preset="fast"),
        )
        return job.id


def settle(maker: Maker, job_id: int, **values: object) -> None:
    with maker.begin() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state=JobState.DONE, finished_at=WHEN, **values)
        )


def result(tg: FakeTelegram, person: Person, job_id: int) -> None:
    """The bot's answer to a job, as the bot sends it: a captioned photo with job buttons."""
    tg.record_message(
        person.id,
        {
            "message_id": tg.new_message_id(),
            "chat": person.chat,
            "photo": [{"file_id": "x"}],
            "caption": "Here it is.",
            "reply_markup": {
                "inline_keyboard": [[{"text": "➕ Stronger", "callback_data": f"r:{job_id}:s"}]]
            },
        },
        from_bot=True,
    )


def lost_photo_reply(tg: FakeTelegram, person: Person) -> None:
    tg.lost_replies.append(Call("sendPhoto", {"chat_id": person.id}, 0.0))


class Run:
    """Three people and the blocked one, a job each (Alice two), as the chaos run has them."""

    def __init__(self, maker: Maker) -> None:
        self.tg = FakeTelegram()
        self.blocked, self.alice, self.bob = (Person(self.tg, first_name=n) for n in "XAB")
        self.alices = [job_for(maker, self.alice), job_for(maker, self.alice)]
        self.bobs = job_for(maker, self.bob)
        self.blockeds = job_for(maker, self.blocked)
        self.sent = [Sent(self.alice, 0.0, j) for j in self.alices]
        self.sent += [Sent(self.bob, 0.0, self.bobs), Sent(self.blocked, 0.0, self.blockeds)]

    def check(self, url: str) -> Figures:
        figures = Figures(people=3, jobs=4)
        check(self.tg, figures, self.sent, self.blocked, [self.alice, self.bob], url)
        return figures


def test_a_run_that_kept_the_promise_passes_with_its_duplicate_counted(
    maker: Maker, url: str
) -> None:
    run = Run(maker)
    for job_id in run.alices:
        settle(maker, job_id, delivered_at=WHEN)
        result(run.tg, run.alice, job_id)
    settle(maker, run.bobs, delivered_at=WHEN)
    lost_photo_reply(run.tg, run.bob)
    result(run.tg, run.bob, run.bobs)
    result(run.tg, run.bob, run.bobs)  # the lost reply's copy: inside the window
    settle(maker, run.blockeds, undeliverable_at=WHEN, delivery_error="Forbidden: blocked")
    figures = run.check(url)
    assert figures.problems == []
    assert (figures.delivered, figures.undeliverable) == (3, 1)
    assert (figures.duplicates, figures.lost_result_replies) == (1, 1)
    assert figures.undeliverable_reasons == [f"job {run.blockeds}: Forbidden: blocked"]


def test_every_way_of_breaking_the_promise_is_caught(maker: Maker, url: str) -> None:
    run = Run(maker)
    first, second = run.alices
    settle(maker, first, delivered_at=WHEN)
    result(run.tg, run.alice, first)
    result(run.tg, run.alice, first)  # no lost reply explains this copy
    settle(maker, second, undeliverable_at=WHEN, delivery_error="NetworkError: Bad Gateway")
    # Bob's job never ran (still queued); the blocked one's is given up with no why.
    settle(maker, run.blockeds, undeliverable_at=WHEN)
    result(run.tg, run.blocked, run.blockeds)
    problems = run.check(url).problems
    alice, bob = run.alice.id, run.bob.id
    assert sorted(problems) == sorted(
        [
            f"person {alice} got 1 duplicates for 0 lost replies: outside the window",
            f"person {alice} never got job {second}'s result",
            f"job {second} of a reachable person is undeliverable",
            f"person {bob} never got job {run.bobs}'s result",
            f"job {run.bobs} is queued, neither answered nor given up",
            f"job {run.blockeds} undeliverable without a reason",
            "the blocked person's chat got a result",
        ]
    )
