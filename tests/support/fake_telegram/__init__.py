"""A fake Telegram Bot API server of our own, and simulated people who talk to a bot through it.

async with FakeTelegram() as tg:          # or: serve_in_thread() from synchronous code
    alice = Person(tg, first_name="Alice", language_code="en")
    # run the bot with TELEGRAM_API_URL=tg.api_url, TELEGRAM_FILE_URL=tg.file_url,
    # BOT_TOKEN=tg.token
    alice.command("start")
    greeting = await alice.wait_reply("Hello")
    alice.send_photo(photo())                 # tests/support/pictures.py draws it
    tg.inject_error("sendMessage", code=429, retry_after=1)   # flood control, once
"""

from .people import Person
from .server import (
    DEFAULT_TOKEN,
    ApiError,
    Call,
    ChatMessage,
    FakeTelegram,
    ThreadedFakeTelegram,
    serve_in_thread,
)

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "Call",
    "ChatMessage",
    "FakeTelegram",
    "Person",
    "ThreadedFakeTelegram",
    "serve_in_thread",
]
