"""A local engine worker as a child process (`python -m engine work`), restarted if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys

logger = logging.getLogger(__name__)

RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # back off while it keeps dying at once
HEALTHY_AFTER = 60.0  # a run this long resets the back-off
BOT_SECRETS = ("BOT_TOKEN", "WEBHOOK_SECRET")
STOP_GRACE = 20.0  # seconds for a running job to be handed back before SIGKILL


class EngineProcess:
    """Keeps one `python -m engine work` running beside the bot."""

    def __init__(self, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.command = (sys.executable, "-m", "engine", "work", *args)
        # The worker needs the database, not Telegram: it gets no bot secrets.
        self.env = {
            k: v for k, v in (os.environ if env is None else env).items() if k not in BOT_SECRETS
        }
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="engine-process")

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            self.process = await asyncio.create_subprocess_exec(*self.command, env=self.env)
            logger.info("engine worker started (pid %s)", self.process.pid)
            code = await self.process.wait()
            if self._stopping:
                break
            ran = asyncio.get_running_loop().time() - started
            failures = 0 if ran > HEALTHY_AFTER else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            self.restarts += 1
            logger.warning(
                "engine worker exited with %s after %.0f s; restarting in %.0f s", code, ran, delay
            )
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Ask the worker to finish (SIGTERM hands its job back), then make sure it is gone."""
        self._stopping = True
        process = self.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE)
            except TimeoutError:
                logger.warning("engine worker did not stop in %.0f s; killing it", STOP_GRACE)
                process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        logger.info("engine worker stopped")
