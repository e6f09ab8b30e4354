"""The flood limiter: Telegram's rate kept, answers before status updates, one chat in order."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter

from bot.ratelimit import Priority, PriorityRateLimiter


class Calls:
    """Sends fake Bot API calls through a limiter and notes the order they reach Telegram."""

    def __init__(self, limiter: PriorityRateLimiter) -> None:
        self.limiter = limiter
        self.sent: list[str] = []
        self.times: list[float] = []

    async def call(
        self, name: str, chat_id: int | str | None = None, priority: int | None = None
    ) -> Any:
        async def reach_telegram() -> bool:
            self.sent.append(name)
            self.times.append(time.monotonic())
            return True

        data = {} if chat_id is None else {"chat_id": chat_id}
        return await self.limiter.process_request(
            reach_telegram, (), {}, "sendMessage", data, priority
        )

    async def start(self, name: str, chat_id: int | None, priority: int | None = None) -> Any:
        """Start a call and let it reach the limiter before the next one starts."""
        task = asyncio.create_task(self.call(name, chat_id, priority))
        await asyncio.sleep(0)
        return task


async def use_up(calls: Calls, count: int) -> None:
    """Spend the bucket's burst, so the next calls have to wait their turn."""
    await asyncio.gather(*(calls.call(f"burst{i}", 1000 + i) for i in range(count)))
    calls.sent.clear()


async def test_keeps_to_the_rate_after_a_burst() -> None:
    limiter = PriorityRateLimiter(per_second=20)
    calls = Calls(limiter)
    began = time.monotonic()
    await asyncio.gather(*(calls.call(f"m{i}", i + 1) for i in range(30)))
    # 20 go at once, the other 10 one every 1/20 s: 0.5 s at the least.
    assert time.monotonic() - began >= 0.45
    assert calls.times[19] - began < 0.1  # the first 20 at once
    assert calls.times[20] - began >= 0.04  # the next once a token has come back
    await limiter.shutdown()


async def order_sent(*calls: tuple[str, int, Priority | None]) -> list[str]:
    """The order in which ``(name, chat, priority)`` calls, made one after another once the
    bucket is empty, reach Telegram."""
    limiter = PriorityRateLimiter(per_second=10)
    sender = Calls(limiter)
    await use_up(sender, 10)
    waiting = [await sender.start(name, chat, priority) for name, chat, priority in calls]
    await asyncio.gather(*waiting)
    await limiter.shutdown()
    return sender.sent


async def test_answers_go_before_status_messages_before_edits() -> None:
    sent = await order_sent(
        ("edit", 1, Priority.EDIT),
        ("status", 2, Priority.STATUS),
        ("answer", 3, None),  # no priority given: an answer
        ("edit too", 4, Priority.EDIT),
    )
    assert sent == ["answer", "status", "edit", "edit too"]


async def test_preview_pictures_go_last_of_all() -> None:
    sent = await order_sent(
        ("preview", 1, Priority.PREVIEW),
        ("edit", 2, Priority.EDIT),
        ("answer", 3, None),
        ("status", 4, Priority.STATUS),
    )
    assert sent == ["answer", "status", "edit", "preview"]


async def test_one_chat_keeps_its_order_and_waits_as_its_most_urgent_call() -> None:
    sent = await order_sent(
        ("other chat's status", 2, Priority.STATUS),
        ("edit", 1, Priority.EDIT),
        ("answer after the edit", 1, Priority.ANSWER),
    )
    # Chat 1 holds an answer, so it goes first, but its edit still goes before its answer.
    assert sent == ["edit", "answer after the edit", "other chat's status"]


async def test_calls_without_a_chat_are_not_limited() -> None:
    limiter = PriorityRateLimiter(per_second=5)
    calls = Calls(limiter)
    await use_up(calls, 5)
    queued = await calls.start("message", 1)
    await calls.call("answerCallbackQuery")  # no chat_id: goes straight through
    assert calls.sent == ["answerCallbackQuery"]
    await queued
    assert calls.sent == ["answerCallbackQuery", "message"]
    await limiter.shutdown()


async def test_a_cancelled_call_gives_its_turn_away() -> None:
    limiter = PriorityRateLimiter(per_second=5)
    calls = Calls(limiter)
    await use_up(calls, 5)
    gone = await calls.start("cancelled", 1)
    kept = await calls.start("kept", 2)
    gone.cancel()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert calls.sent == ["kept"]
    await limiter.shutdown()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter(int)
async def test_flood_control_holds_every_call_then_retries() -> None:
    limiter = PriorityRateLimiter(max_retries=2)
    refusals = 1
    reached: list[float] = []

    async def telegram() -> bool:
        nonlocal refusals
        reached.append(time.monotonic())
        if refusals:
            refusals -= 1
            raise RetryAfter(1)
        return True

    began = time.monotonic()
    first = asyncio.create_task(
        limiter.process_request(telegram, (), {}, "sendMessage", {"chat_id": 1}, None)
    )
    await asyncio.sleep(0.1)  # the 429 has come back: now every call waits
    second = asyncio.create_task(
        limiter.process_request(telegram, (), {}, "answerCallbackQuery", {}, None)
    )
    assert await first is True and await second is True
    assert reached[0] - began < 0.1
    assert min(reached[1:]) - began >= 1.0  # both waited out the second Telegram asked for
    await limiter.shutdown()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter(int)
async def test_flood_control_gives_up_after_max_retries() -> None:
    limiter = PriorityRateLimiter(max_retries=1)
    tries = 0

    async def telegram() -> bool:
        nonlocal tries
        tries += 1
        raise RetryAfter(0)

    with pytest.raises(RetryAfter):
        await limiter.process_request(telegram, (), {}, "sendMessage", {"chat_id": 1}, None)
    assert tries == 2
    await limiter.shutdown()


def test_groups_and_channels_have_a_limit_of_their_own() -> None:
    limiter = PriorityRateLimiter()
    assert isinstance(limiter._group(-100123), AsyncLimiter)
    assert isinstance(limiter._group("@channel"), AsyncLimiter)
    assert limiter._group(-100123) is limiter._group(-100123)
    assert not isinstance(limiter._group(42), AsyncLimiter)  # a private chat: only the total


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter(int)
async def test_a_preview_refused_by_flood_control_is_dropped_and_holds_the_others() -> None:
    """A fresher preview follows; trying this one again would only add to the flood."""
    limiter = PriorityRateLimiter(max_retries=3)
    tries = 0

    async def refuses() -> bool:
        nonlocal tries
        tries += 1
        raise RetryAfter(1)

    async def answer() -> bool:
        reached.append(time.monotonic())
        return True

    reached: list[float] = []
    began = time.monotonic()
    with pytest.raises(RetryAfter):
        await limiter.process_request(
            refuses, (), {}, "editMessageMedia", {"chat_id": 1}, Priority.PREVIEW
        )
    assert tries == 1 and time.monotonic() - began < 0.5
    assert await limiter.process_request(answer, (), {}, "sendMessage", {"chat_id": 2}, None)
    assert reached[0] - began >= 1.0  # Telegram's wait holds every call all the same
    await limiter.shutdown()
