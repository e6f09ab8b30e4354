"""The bot's own metrics, beside the job system's (``engine.jobs.metrics``): Telegram's errors
by kind, its 429s, and what became of each answer to a finished job. Served with the queue's
state on ``METRICS_PORT`` (off by default)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

TELEGRAM_ERRORS = Counter(
    "stylebot_telegram_errors_total",
    "Errors from the Bot API, by kind (flood, timed_out, network, forbidden, migrated, "
    "edit_not_found, not_modified, bad_request, other)",
    ["kind"],
)
FLOOD_WAITS = Counter("stylebot_telegram_429_total", "429 answers (flood control) from the Bot API")
DELIVERIES = Counter(
    "stylebot_deliveries_total",
    "Tries at answering finished jobs, by outcome (delivered, retry, undeliverable)",
    ["outcome"],
)
DELIVERY_SECONDS = Histogram(
    "stylebot_delivery_seconds",
    "From a job's end to its answer in the chat",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)


def error_kind(error: BaseException) -> str:
    """A Telegram error's kind, as the metrics count them."""
    if isinstance(error, RetryAfter):
        return "flood"
    if isinstance(error, TimedOut):
        return "timed_out"
    if isinstance(error, NetworkError):
        return "network"
    if isinstance(error, Forbidden):
        return "forbidden"
    if isinstance(error, ChatMigrated):
        return "migrated"
    if isinstance(error, BadRequest):
        text = str(error).lower()
        if "message to edit not found" in text:
            return "edit_not_found"
        if "not modified" in text:
            return "not_modified"
        return "bad_request"
    return "other" if isinstance(error, TelegramError) else "not_telegram"
