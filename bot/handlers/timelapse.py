"""The time-lapse under a result: "How it was painted" sends the film of the run.

The film is made the first time someone asks (most people never do, so the worker does not
spend time on it), in a thread, and kept with the job, so a second press sends it at once.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update

from engine import timelapse
from engine.jobs import outputs

from ..callback_data import Timelapse, parse
from ..context import Context
from ..store.films import FilmParts, NoFilm, film_or_parts
from .common import refuse_button, who

logger = logging.getLogger(__name__)

REFUSALS = {"gone": "timelapse_gone", "not_yours": "not_yours", "none": "timelapse_none"}


async def timelapse_button(update: Update, context: Context) -> None:
    """Send the film of how the job's result was painted, if it is the presser's."""
    person, t = await who(update, context)
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and chat is not None
    action = parse(query.data)
    if not isinstance(action, Timelapse):
        await refuse_button(update, t)
        return
    making = context.bot_data.films_making
    if action.job_id in making:  # pressed again while the film is on its way
        await query.answer(t("timelapse_busy"))
        return
    making.add(action.job_id)
    try:
        try:
            found = await context.db(film_or_parts, job_id=action.job_id, user_id=person.id)
        except NoFilm as e:
            await refuse_button(update, t, REFUSALS[e.reason])
            return
        if isinstance(found, FilmParts):
            await query.answer(t("timelapse_making"))
            try:
                film = await asyncio.to_thread(
                    timelapse.film_of, found.photo, found.frames, found.result
                )
            except timelapse.FilmError as e:
                logger.warning("job %s: no film (%s)", action.job_id, e)
                await context.bot.send_message(chat.id, t("timelapse_failed"))
                return
            data = film.data
            await context.db(
                outputs.put_film,
                job_id=action.job_id,
                data=data,
                width=film.width,
                height=film.height,
            )
            logger.info(
                "job %s: film made (%d frames, %d KB)",
                action.job_id,
                len(found.frames),
                len(data) // 1024,
            )
        else:
            await query.answer()
            data = found
        await context.bot.send_animation(
            chat.id,
            data,
            caption=t("timelapse_caption"),
            filename=f"timelapse-{action.job_id}.mp4",
        )
    finally:
        making.discard(action.job_id)
