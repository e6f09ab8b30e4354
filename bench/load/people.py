"""The simulated people: each sends a photo and taps a preset painting, as often as asked, and
reads what comes back."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tests.support.fake_telegram import ChatMessage, FakeTelegram, Person
from tests.support.pictures import photo


@dataclass
class Sent:
    """One job as a person asked for it."""

    person: Person
    photo_at: float  # the fake server's clock
    job_id: int | None = None
    gallery_at: float = float("nan")  # the gallery reached the chat
    tapped_at: float = float("nan")  # the person tapped a painting
    queued_at: float = float("nan")  # the queued message reached the chat


def is_result(message: ChatMessage) -> bool:
    return message.kind == "photo" and "Here it is" in message.text


def is_answer(message: ChatMessage) -> bool:
    """A result as a photo, or any file (a result sent as a document, or a second copy)."""
    return is_result(message) or message.kind == "document"


def job_of(message: ChatMessage, prefix: str) -> int | None:
    """The job id in a button's callback data (``x:<job>`` or ``r:<job>:<how>``)."""
    for button in message.buttons:
        data = str(button.get("callback_data", ""))
        if data.startswith(prefix):
            return int(data.split(":")[1])
    return None


async def ask(
    person: Person, tg: FakeTelegram, jobs: int, preset: str, *, delay: float = 0.0
) -> list[Sent]:
    """After ``delay`` seconds, send a photo and tap a preset, ``jobs`` times, each once the
    last one is queued."""
    await asyncio.sleep(delay)
    sent = []
    for _ in range(jobs):
        mark = len(person.messages)
        person.send_photo(photo(96, 64))
        asked = Sent(person=person, photo_at=time.monotonic())
        gallery = await person.wait_message(
            lambda m: any(b.get("text") == preset for b in m.buttons), after=mark, timeout=120
        )
        asked.gallery_at = gallery.sent_at
        asked.tapped_at = time.monotonic()
        person.press(gallery, preset)
        status = await person.wait_message(
            lambda m: job_of(m, "x:") is not None, after=mark, timeout=120
        )
        asked.job_id = job_of(status, "x:")
        asked.queued_at = status.sent_at
        sent.append(asked)
    return sent
