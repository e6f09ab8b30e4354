"""The checks: every job answered exactly once, to the right person, in the chat and in the
database; then each job's timings, from the chat's clock and the jobs table."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from sqlalchemy import create_engine, select

from engine.jobs.models import Job, JobState
from tests.support.fake_telegram import ChatMessage, Person

from .outcome import Outcome
from .people import Sent, is_result, job_of


@dataclass(frozen=True)
class Problem:
    """Something the run got wrong, about a job or a person; ``str()`` says it in a line."""

    kind: str  # one of the keys of WORDING
    job: int | None = None
    person: int | None = None
    counts: tuple[int, ...] = ()  # what was counted (see WORDING)

    def __str__(self) -> str:
        return WORDING[self.kind].format(*self.counts, job=self.job, person=self.person)


WORDING = {
    "job ids": "a job was not queued, or two requests got one job id",
    "answers to a person": "person {person} asked for {0} pictures and got {1} result photos "
    "and {2} files",
    "unknown job": "a result for an unknown job {job}",
    "wrong person": "job {job}'s result went to the wrong person",
    "answers to a job": "job {job} was answered {0} times",
}


def check_chats(
    people: list[Person], sent: list[Sent]
) -> tuple[list[Problem], dict[int, list[ChatMessage]]]:
    """Each person got exactly the results they asked for: problems, and results by job."""
    problems: list[Problem] = []
    by_job = {s.job_id: s for s in sent}
    if None in by_job or len(by_job) != len(sent):
        problems.append(Problem("job ids"))
    asked: dict[int, int] = {}
    for s in sent:
        asked[s.person.id] = asked.get(s.person.id, 0) + 1
    results: dict[int, list[ChatMessage]] = {}
    for person in people:
        photos = sum(1 for m in person.messages if is_result(m))
        documents = sum(1 for m in person.messages if m.kind == "document")
        if photos != asked.get(person.id, 0) or documents:
            counts = (asked.get(person.id, 0), photos, documents)
            problems.append(Problem("answers to a person", person=person.id, counts=counts))
        for message in person.messages:
            if is_result(message):
                job_id = job_of(message, "r:")
                if job_id is None or by_job.get(job_id) is None:
                    problems.append(Problem("unknown job", job=job_id))
                    continue
                if by_job[job_id].person is not person:
                    problems.append(Problem("wrong person", job=job_id, person=person.id))
                results.setdefault(job_id, []).append(message)
    for job_id in by_job:
        if job_id is None:  # already a problem above
            continue
        count = len(results.get(job_id, []))
        if count != 1:
            problems.append(Problem("answers to a job", job=job_id, counts=(count,)))
    return problems, results


def check_and_measure(
    outcome: Outcome, people: list[Person], sent: list[Sent], database_url: str
) -> None:
    """Every job answered exactly once, in the chat and in the database; then the timings."""
    by_job = {s.job_id: s for s in sent}
    first_asks: dict[int, Sent] = {}
    for s in sent:  # in the order each person asked
        first_asks.setdefault(s.person.id, s)
    problems, results = check_chats(people, sent)
    outcome.problems += [str(problem) for problem in problems]

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    Job.id,
                    Job.state,
                    Job.created_at,
                    Job.started_at,
                    Job.finished_at,
                    Job.run_seconds,
                    Job.delivered_at,
                    Job.attempts,
                )
            ).all()
    finally:
        engine.dispose()
    if len(rows) != len(sent):
        outcome.problems.append(f"the database holds {len(rows)} jobs for {len(sent)} asked")
    for row in rows:
        if row.attempts > 1:
            outcome.retried.append(row.id)
        if row.state != JobState.DONE or row.delivered_at is None:
            outcome.problems.append(f"job {row.id} is {row.state}, delivered {row.delivered_at}")
            continue
        if row.id not in results or row.id not in by_job:
            continue
        total = results[row.id][0].sent_at - by_job[row.id].photo_at
        wait = (row.started_at - row.created_at).total_seconds()
        run = row.run_seconds or 0.0
        outcome.total.append(total)
        outcome.wait.append(wait)
        outcome.run.append(run)
        outcome.overhead.append(total - wait - run)
        if by_job[row.id] is first_asks.get(by_job[row.id].person.id):
            outcome.first_overhead.append(total - wait - run)
        # The database's timestamps are naive UTC wall-clock time; the chat's are monotonic.
        photo_at = wall_clock(by_job[row.id].photo_at)
        answered_at = wall_clock(results[row.id][0].sent_at)
        outcome.intake.append((row.created_at - photo_at).total_seconds())
        asked = by_job[row.id]
        outcome.to_gallery.append(asked.gallery_at - asked.photo_at)
        outcome.tap_to_queued.append(asked.queued_at - asked.tapped_at)
        busy = (row.finished_at - row.started_at).total_seconds()
        outcome.worker_extra.append(busy - run)
        outcome.delivery.append((answered_at - row.finished_at).total_seconds())


def wall_clock(monotonic: float) -> datetime.datetime:
    """A time.monotonic() reading as naive UTC, the form of the database's timestamps."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now - datetime.timedelta(seconds=time.monotonic() - monotonic)
