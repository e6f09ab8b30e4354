"""One person's updates in order, everyone's at once, and one person's flood held to them.

The update processor is driven as python-telegram-bot drives it (``process_update``, which
takes the library's own slot first); the end-to-end test sends a flood through the fake Bot
API to the real bot.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest
from telegram import Update

from bot.updates import OnePersonAtATime
from tests.support.bot_harness import BotProcess
from tests.support.fake_telegram import FakeTelegram, Person

_ids = iter(range(1, 10**6))


def update_from(user_id: int) -> Update:
    user = {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"}
    message = {
        "message_id": next(_ids),
        "date": 0,
        "chat": {"id": user_id, "type": "private"},
        "from": user,
        "text": "hello",
    }
    return Update.de_json({"update_id": next(_ids), "message": message}, None)


async def test_a_flood_of_waiting_updates_holds_no_slot_from_someone_else() -> None:
    processor = OnePersonAtATime()  # the application's own: 64 slots
    alice_may_go = asyncio.Event()
    alice_done: list[int] = []

    async def alice(n: int) -> None:
        await alice_may_go.wait()
        alice_done.append(n)

    async def bob() -> None:
        pass

    flood = [
        asyncio.create_task(processor.process_update(update_from(1), alice(n))) for n in range(200)
    ]
    await asyncio.sleep(0.01)  # every one of Alice's has reached its wait
    # Alice's first update is stuck (a slow download, say): Bob's is handled all the same.
    await asyncio.wait_for(processor.process_update(update_from(2), bob()), timeout=2)
    assert alice_done == []
    alice_may_go.set()
    await asyncio.gather(*flood)
    assert alice_done == sorted(alice_done)  # hers in the order they came


async def test_one_persons_updates_beyond_the_cap_are_dropped_and_they_are_told_once() -> None:
    told: list[int] = []

    async def overflow(update: Update) -> None:
        assert update.effective_user is not None
        told.append(update.effective_user.id)

    processor = OnePersonAtATime(4, max_waiting=5, on_overflow=overflow)
    go = asyncio.Event()
    ran: list[int] = []

    async def handle(n: int) -> None:
        await go.wait()
        ran.append(n)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a dropped coroutine is closed
        tasks = [
            asyncio.create_task(processor.process_update(update_from(1), handle(n)))
            for n in range(50)
        ]
        await asyncio.sleep(0.01)
        go.set()
        await asyncio.gather(*tasks)
    assert ran == [0, 1, 2, 3, 4] and told == [1]
    # Once their line has emptied, they may send again (and would be told again).
    await processor.process_update(update_from(1), handle(99))
    assert ran[-1] == 99


async def test_at_most_the_slots_are_handled_at_once() -> None:
    processor = OnePersonAtATime(3)
    running, most = 0, 0

    async def handle() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    await asyncio.gather(
        *(processor.process_update(update_from(100 + i), handle()) for i in range(10))
    )
    assert most == 3


@pytest.mark.slow
async def test_one_persons_flood_does_not_hold_up_another_persons_reply(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str]
) -> None:
    """200 quick messages from one person, then one from another, through the real bot: the
    other's reply comes before most of the flood's. (Before, it came after 137 of them, every
    update slot taken by updates waiting for their own person's turn: 3.7 s on a 2-core
    machine; bench/bench_fairness.py measures it, docs/BENCHMARKS.md has the numbers.)"""
    bot_env["MAX_WAITING_UPDATES"] = "1000"  # the cap would hide the slots' fairness
    await bot_process.start("--no-engine")
    alice, bob = Person(tg), Person(tg)
    for i in range(200):
        alice.send_text(f"hello {i}")
    bob.command("help")
    answer = await bob.wait_reply("/settings", timeout=60)
    ahead = sum(1 for m in alice.messages if m.sent_at < answer.sent_at)
    assert ahead < 50, f"{ahead} of Alice's 200 answers came first"
    await alice.wait_message(lambda m: len(alice.messages) >= 200, timeout=60)


@pytest.mark.slow
async def test_a_flood_beyond_the_cap_is_told_once_and_dropped(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str]
) -> None:
    bot_env["MAX_WAITING_UPDATES"] = "10"
    await bot_process.start("--no-engine")
    alice, bob = Person(tg), Person(tg, language_code="ru")
    for i in range(200):
        alice.send_text(f"hello {i}")
    for i in range(30):
        bob.send_text(f"привет {i}")
    await alice.wait_reply("faster than I can read", timeout=30)
    await bob.wait_reply("быстрее, чем я успеваю читать", timeout=30)
    # Once the flood has drained, a message is answered as ever.
    for person, hint in ((alice, "Send me a photo"), (bob, "Пришлите фото")):

        def drained(p: Person = person) -> Any:
            return len(p.messages) >= 11  # ten answers and one "too fast"

        await tg.wait_for(drained, timeout=30)
        await asyncio.sleep(0.5)
        mark = len(person.messages)
        person.send_text("and now?")
        await person.wait_reply(hint, after=mark)
        texts = [m.text for m in person.messages]
        assert len(texts) == 12, texts
        assert sum("faster than" in t or "быстрее" in t for t in texts) == 1


@pytest.mark.slow
async def test_a_strangers_flood_is_dropped_without_a_word_more(
    tg: FakeTelegram, bot_process: BotProcess, bot_env: dict[str, str]
) -> None:
    """With ALLOWED_USERS set, someone not on it hears "this bot is private" for what the bot
    reads of their flood, and nothing about what it dropped."""
    alice, stranger = Person(tg, user_id=5001), Person(tg, user_id=5002)
    bot_env.update(MAX_WAITING_UPDATES="10", ALLOWED_USERS=str(alice.id))
    await bot_process.start("--no-engine")
    for i in range(30):
        alice.send_text(f"hello {i}")
        stranger.send_text(f"hello {i}")
    await alice.wait_reply("faster than I can read", timeout=30)
    await tg.wait_for(lambda: len(stranger.messages) >= 10, timeout=30)
    await tg.wait_for(lambda: len(alice.messages) >= 11, timeout=30)
    await asyncio.sleep(1.0)  # anything more for the stranger would be on its way by now
    texts = [m.text for m in stranger.messages]
    assert 10 <= len(texts) < 30, texts  # some were dropped
    assert set(texts) == {"Sorry, this bot is private."}
