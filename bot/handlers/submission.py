"""Queueing a job: the limits, and the message that follows the job until it is delivered."""

from __future__ import annotations

import dataclasses
import logging

from telegram import Update

from engine.contract import JobParams
from engine.jobs.models import JobState
from engine.jobs.queue import MissingPicture, QueueFull

from .. import keyboards
from ..context import Context
from ..delivery.status import status_text
from ..store.jobs import submit_job
from ..store.people import Person
from ..texts import Texts

logger = logging.getLogger(__name__)


async def submit(
    update: Update,
    context: Context,
    person: Person,
    t: Texts,
    *,
    content_sha: str | None,
    styles: list[tuple[str, float]],
    params: JobParams,
    swap: bool,
    uses_waiting: bool = False,
    toast: str | None = None,
) -> int | None:
    """Queue a job and post the message that follows it; None when a limit refused it.

    ``uses_waiting``: the job is made of the photo waiting for its style, which is then
    forgotten (in the same transaction); when a limit refuses the job, the photo still waits.
    ``content_sha`` None: the waiting photo, read in that transaction (raises NothingWaiting
    when none waits). ``toast``: answer the button pressed with it once the job is queued,
    before the status message (which may wait its turn in a burst).
    """
    query = update.callback_query if toast is not None else None
    chat = update.effective_chat
    assert chat is not None
    settings = context.settings
    if settings.job_steps:
        params = dataclasses.replace(params, steps=settings.job_steps)
    try:
        job_id, position = await context.db(
            submit_job,
            user_id=person.id,
            chat_id=chat.id,
            content_sha=content_sha,
            styles=styles,
            params=params,
            max_queued_per_user=settings.max_queued_per_user,
            max_per_hour_per_user=settings.max_jobs_per_hour,
            max_queued_total=settings.max_queue_size,
            max_attempts=settings.max_attempts,
            uses_waiting=uses_waiting,
        )
    except QueueFull as e:
        limit = {
            "user_queued": settings.max_queued_per_user,
            "user_hourly": settings.max_jobs_per_hour,
        }.get(e.reason, settings.max_queue_size)
        logger.info("user %s refused by the %s limit", person.id, e.reason)
        if query is not None:
            await query.answer()
        await context.bot.send_message(chat.id, t(f"limit_{e.reason}", limit=limit))
        return None
    except MissingPicture:
        # Pruned meanwhile (pins keep preset paintings; a photo is kept KEEP_DAYS). A preset
        # is stored again at its next pick; a photo has to come again.
        gone = {sha for sha, _ in styles}
        known = context.bot_data.preset_images
        for preset_id in [p for p, sha in known.items() if sha in gone]:
            del known[preset_id]
        logger.info("user %s: a picture of the job is no longer stored", person.id)
        if query is not None:
            await query.answer()
        await context.bot.send_message(chat.id, t("picture_gone"))
        return None
    if query is not None:
        await query.answer(toast)
    text = status_text(t, JobState.QUEUED, position=position)
    markup = keyboards.queued(job_id, t, swap=swap)
    context.bot_data.delivery.status.follow(
        job_id, chat.id, text, markup, swap=swap, photo=person.previews
    )
    logger.info("user %s queued job %s at place %s", person.id, job_id, position)
    return job_id
