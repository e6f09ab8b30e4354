"""/stats, for the bot's admins: the queue, the workers, and the last hour."""

from __future__ import annotations

from telegram import Update

from engine.jobs.stats import stats as queue_stats

from ..context import Context
from .common import reply, who


async def stats(update: Update, context: Context) -> None:
    """Queue length, running jobs, live workers, jobs and failures in the last hour, and the
    answers that could not be delivered (with why)."""
    person, t = await who(update, context)
    if person.id not in context.settings.admin_ids:
        await reply(update, t("admins_only"))
        return
    numbers = await context.db(queue_stats)
    text = t(
        "stats",
        queued=numbers.queued,
        running=numbers.running,
        workers=numbers.live_workers,
        done_hour=numbers.done_last_hour,
        failed_hour=numbers.failed_last_hour,
    )
    if numbers.undeliverable_last_day:
        latest = "; ".join(f"job {job}: {why[:200]}" for job, why in numbers.undeliverable_latest)
        text += t("stats_undeliverable", count=numbers.undeliverable_last_day, latest=latest)
    await reply(update, text)
