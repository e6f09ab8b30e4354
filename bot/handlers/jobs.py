"""Jobs: queueing one, cancelling, swapping photo and style, and running a result again."""

from __future__ import annotations

import dataclasses
import logging

from telegram import Update

from engine.contract import STRENGTH_RANGE, JobParams, PhotoParams, VideoParams
from engine.jobs import blobs, queue

from ..callback_data import CancelJob, Rerun, SwapJob, parse
from ..context import Context
from ..store.jobs import JobView, job_of, open_job_ids
from ..store.people import Person
from ..store.posters import poster_offer
from ..store.waiting import set_waiting_photo
from ..texts import Texts
from .common import edit_words, pressed_message, refuse_button, reply, who
from .gallery import send_gallery
from .submission import submit

logger = logging.getLogger(__name__)

STRONGER = 1.6  # one press of "stronger" multiplies the style weight by this


async def cancel_command(update: Update, context: Context) -> None:
    """Cancel every picture the person has waiting or running."""
    person, t = await who(update, context)
    job_ids = await context.db(open_job_ids, user_id=person.id)
    cancelled = [j for j in job_ids if await context.db(queue.cancel, job_id=j, user_id=person.id)]
    await reply(update, t("cancel_done") if cancelled else t("cancel_none"))


async def cancel_button(update: Update, context: Context) -> None:
    """Cancel the job under whose message the button was pressed, if it is the presser's."""
    person, t = await who(update, context)
    query = update.callback_query
    assert query is not None
    action = parse(query.data)
    if not isinstance(action, CancelJob):
        await refuse_button(update, t)
        return
    job = await context.db(job_of, job_id=action.job_id, user_id=person.id)
    if job is None:
        await refuse_button(update, t)
        return
    if await context.db(queue.cancel, job_id=job.id, user_id=person.id):
        # The message says so at once; no progress or picture may overwrite it meanwhile.
        context.bot_data.delivery.status.hold(job.id)
        await query.answer(t("cancel_done"))
        await edit_words(pressed_message(update), t("cancelled_status"), None)
    else:
        await query.answer(t("cancel_too_late"))


async def swap_button(update: Update, context: Context) -> None:
    """Swap a job's photo and style: cancel it if it has not finished, and queue the swap."""
    person, t = await who(update, context)
    query = update.callback_query
    assert query is not None
    action = parse(query.data)
    job = None
    if isinstance(action, SwapJob):
        job = await context.db(job_of, job_id=action.job_id, user_id=person.id)
    if job is None or len(job.styles) != 1 or isinstance(job.params, VideoParams):
        await refuse_button(update, t)  # a clip is never a style
        return
    if await context.db(queue.cancel, job_id=job.id, user_id=person.id):
        context.bot_data.delivery.status.hold(job.id)
    await query.answer(t("swapped"))
    await edit_words(pressed_message(update), t("swapped"), None)
    ((style_sha, _),) = job.styles
    await submit(
        update,
        context,
        person,
        t,
        content_sha=style_sha,
        styles=[(job.content_sha, 1.0)],
        params=job.params,
        swap=True,
    )


async def rerun_button(update: Update, context: Context) -> None:
    """Run a finished job again: with another style, stronger, weaker, or keeping colours."""
    person, t = await who(update, context)
    action = parse(update.callback_query.data if update.callback_query else None)
    job = None
    if isinstance(action, Rerun):
        job = await context.db(job_of, job_id=action.job_id, user_id=person.id)
    if (
        job is None
        or not isinstance(action, Rerun)
        or not isinstance(job.params, PhotoParams | VideoParams)
        or (action.how == "f" and isinstance(job.params, VideoParams))  # a clip has no file
    ):
        await refuse_button(update, t)
    elif action.how == "n":
        await choose_another_style(update, context, person, t, job)
    elif action.how == "f":
        await send_full_quality(update, context, t, job)
    elif action.how == "p":
        await make_poster(update, context, person, t, job)
    else:
        await run_again(update, context, person, t, job, action.how)


async def choose_another_style(
    update: Update, context: Context, person: Person, t: Texts, job: JobView
) -> None:
    """Let the job's photo wait for a new style, and show the gallery."""
    chat = update.effective_chat
    assert chat is not None and update.callback_query is not None
    await context.db(set_waiting_photo, user_id=person.id, chat_id=chat.id, sha=job.content_sha)
    await update.callback_query.answer()
    await reply(update, t("rerun_choose_style"))
    if len(context.presets):
        await send_gallery(update, context, t, page=0)


async def send_full_quality(update: Update, context: Context, t: Texts, job: JobView) -> None:
    """Send the job's result as a file, exactly as the engine made it."""
    chat = update.effective_chat
    assert chat is not None and update.callback_query is not None
    if job.result_sha is None:
        await refuse_button(update, t)
        return
    await update.callback_query.answer()
    data = await context.db(blobs.get_image, sha256=job.result_sha)
    await context.bot.send_document(
        chat.id, data, filename=f"stylized-{job.id}.jpg", caption=t("result_file")
    )


async def make_poster(
    update: Update, context: Context, person: Person, t: Texts, job: JobView
) -> None:
    """Queue the job again as a poster, as large as a live GPU worker paints one."""
    assert update.callback_query is not None and isinstance(job.params, PhotoParams)
    offer = await context.db(poster_offer)
    if offer is None:  # the GPU worker went away since the button was shown
        await update.callback_query.answer(t("poster_unavailable"), show_alert=True)
        return
    params = dataclasses.replace(job.params, poster=True, size=offer.side)
    toast = t("poster_queued", side=offer.side, minutes=offer.minutes)
    await _again(update, context, person, t, job, params, toast)


async def run_again(
    update: Update, context: Context, person: Person, t: Texts, job: JobView, how: str
) -> None:
    """Queue the same photo and style again: stronger (s), weaker (w) or keeping colours (c)."""
    assert update.callback_query is not None
    assert isinstance(job.params, PhotoParams | VideoParams)
    strength = job.params.strength
    if how == "s":
        params = dataclasses.replace(
            job.params, strength=round(min(STRENGTH_RANGE[1], strength * STRONGER), 3)
        )
    elif how == "w":
        params = dataclasses.replace(
            job.params, strength=round(max(STRENGTH_RANGE[0], strength / STRONGER), 3)
        )
    else:
        params = dataclasses.replace(job.params, keep_colors=True)
    await _again(update, context, person, t, job, params, t("rerun_queued"))


async def _again(
    update: Update,
    context: Context,
    person: Person,
    t: Texts,
    job: JobView,
    params: JobParams,
    toast: str,
) -> None:
    """Queue the job's own photo and styles again with ``params``."""
    await submit(
        update,
        context,
        person,
        t,
        content_sha=job.content_sha,
        styles=list(job.styles),
        params=params,
        swap=False,
        toast=toast,
    )
