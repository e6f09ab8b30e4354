"""One configuration, run: the service started, the people let loose (and, in the kill run, a
busy worker killed half way), then the checks."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

from tests.support.bot_harness import make_presets, small_settings
from tests.support.fake_telegram import FakeTelegram, Person

from .checks import check_and_measure
from .outcome import Config, Outcome
from .people import ask, is_answer, is_result
from .service import (
    Service,
    drop_database,
    fresh_database,
    live_workers,
    process_cpu,
    service_env,
    wait_workers,
)

EDITS = ("editMessageText", "editMessageCaption", "editMessageMedia")


def status_edits(tg: FakeTelegram) -> tuple[int, int]:
    """Status-message edits so far, of every kind, and of those the pictures."""
    return sum(len(tg.calls_of(m)) for m in EDITS), len(tg.calls_of("editMessageMedia"))


async def run_config(
    config: Config,
    *,
    people: int,
    jobs: int,
    postgres: str | None,
    timeout: float,
    previews: bool = True,
) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="stylebot-load-") as temp:
        directory = Path(temp)
        database_url, dropme = fresh_database(config.database, postgres, directory)
        presets = directory / "presets"
        make_presets(presets, count=2)
        try:
            async with FakeTelegram() as tg:
                env = service_env(tg, database_url, presets, directory)
                service = Service(env, directory / "service.log")
                try:
                    return await drive(
                        config, tg, service, database_url, people, jobs, timeout, previews
                    )
                except BaseException:
                    print(f"--- the service's log ---\n{service.log.read_text()[-6000:]}")
                    raise
                finally:
                    await service.stop()
        finally:
            if dropme and postgres:
                drop_database(postgres, dropme)


async def drive(
    config: Config,
    tg: FakeTelegram,
    service: Service,
    database_url: str,
    people_count: int,
    jobs: int,
    timeout: float,
    previews: bool = True,
) -> Outcome:
    await service.start_bot()
    await tg.wait_for(lambda: len(tg.calls_of("getUpdates")) > 0, timeout=120)
    for _ in range(config.workers):
        await service.start_worker()
    people = [Person(tg, first_name=f"P{i}") for i in range(people_count)]
    for person in people:  # the fast preset at 64 px: tiny pictures, the real schedule
        small_settings(database_url, person, size=64, previews=previews)
    # A worker registers once torch and VGG-19 are loaded: start the clock after that.
    await wait_workers(database_url, config.workers, service)

    start = time.monotonic()
    outcome = Outcome(
        config=config,
        jobs=people_count * jobs,
        seconds=float("nan"),
        people=people_count,
        per_person=jobs,
        previews=previews,
    )
    edits_before, pictures_before = status_edits(tg)
    assert service.bot is not None
    cpu_before = process_cpu(service.bot.pid)
    killer = (
        asyncio.create_task(kill_half_way(service, tg, people_count * jobs, database_url, outcome))
        if config.kill
        else None
    )
    arrivals = random.Random(7)  # the same moments in every run
    batches = await asyncio.gather(
        *(
            ask(p, tg, jobs, "1. Painting 1", delay=arrivals.uniform(0, config.arrive_over))
            for p in people
        )
    )
    sent = [s for batch in batches for s in batch]

    def answered() -> int:
        return sum(1 for p in people for m in p.messages if is_answer(m))

    try:
        await tg.wait_for(lambda: answered() >= len(sent) or None, timeout=timeout)
    except TimeoutError:
        outcome.problems.append(
            f"only {answered()} of {len(sent)} jobs were answered in {timeout:.0f} s"
        )
    results = [m.sent_at for p in people for m in p.messages if is_answer(m)]
    outcome.seconds = (max(results) if results else time.monotonic()) - start
    edits, pictures = status_edits(tg)
    outcome.edits, outcome.pictures = edits - edits_before, pictures - pictures_before
    outcome.bot_cpu = process_cpu(service.bot.pid) - cpu_before
    await service.delivery_passes(20)  # anything answered twice would show up now
    if killer is not None:
        if killer.done():
            await killer
            outcome.killed_worker = True
        else:
            killer.cancel()
            outcome.problems.append("the run ended before half the jobs were answered")
    check_and_measure(outcome, people, sent, database_url)
    return outcome


async def kill_half_way(
    service: Service, tg: FakeTelegram, total: int, database_url: str, outcome: Outcome
) -> None:
    """SIGKILL a busy worker once half the jobs are answered, then start a new one."""
    await tg.wait_for(
        lambda: (
            sum(1 for chat in tg.chats.values() for m in chat if is_result(m)) >= total // 2 or None
        ),
        timeout=600,
    )
    # The victim: a worker in the middle of a job (its heartbeat names it), so a job is lost
    # unless the queue gives it back.
    deadline = time.monotonic() + 10
    while True:
        running = await asyncio.to_thread(live_workers, database_url)
        busy = [p for p in service.workers if running.get(p.pid)]
        if busy or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    victim = busy[0] if busy else service.workers[0]
    outcome.killed_job = running.get(victim.pid)
    service.kill_worker(victim)
    await asyncio.sleep(1)
    await service.start_worker()
