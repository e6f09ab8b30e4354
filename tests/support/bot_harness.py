"""Helpers for the bot's end-to-end tests: drawn pictures, presets, and the bot as a subprocess."""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from .fake_telegram import FakeTelegram, Person

REPO = Path(__file__).resolve().parents[2]


def painting(width: int, height: int, colors: tuple[tuple[int, int, int], ...]) -> bytes:
    """A stripy picture that has some style to borrow."""
    image = Image.new("RGB", (width, height), colors[0])
    draw = ImageDraw.Draw(image)
    for i, x in enumerate(range(0, width + height, 12)):
        draw.line((x, 0, x - height, height), fill=colors[i % len(colors)], width=5)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def photo(width: int = 96, height: int = 64) -> bytes:
    """A small 'photo': a sky, a field and a sun."""
    image = Image.new("RGB", (width, height), (120, 170, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(60, 140, 50))
    draw.ellipse(
        (width // 10, height // 10, width // 10 + height // 3, height // 10 + height // 3),
        fill=(250, 220, 60),
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def make_presets(directory: Path, count: int = 2) -> None:
    """Install ``count`` drawn paintings with `python -m bot presets add`, as an operator would."""
    from bot.presets.commands import main as presets_main

    palettes = [
        ((20, 30, 120), (240, 200, 40)),
        ((150, 20, 20), (20, 20, 20), (240, 240, 240)),
        ((10, 120, 60), (250, 120, 0)),
    ]
    for i in range(count):
        source = directory.parent / f"painting-{i}.jpg"
        source.write_bytes(painting(120, 90, palettes[i % len(palettes)]))
        assert (
            presets_main(
                [
                    "--dir",
                    str(directory),
                    "add",
                    str(source),
                    "--title",
                    f"Painting {i + 1}",
                    "--artist",
                    "Tester",
                    "--year",
                    "2024",
                ]
            )
            == 0
        )


class BotProcess:
    """``python -m bot`` in a subprocess, started and stopped by the test."""

    def __init__(self, tg: FakeTelegram, tmp_path: Path, env: dict[str, str]) -> None:
        self.tg = tg
        self.env = env
        self.log_path = tmp_path / "bot.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *args: str, wait: bool = True, ready: str = "getUpdates") -> None:
        """Start the bot; wait until it calls ``ready`` (it polls, or sets its webhook)."""
        polls = len(self.tg.calls_of(ready))
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        if wait:
            await self.tg.wait_for(
                lambda: len(self.tg.calls_of(ready)) > polls or self.exited(), timeout=60
            )
            assert not self.exited(), f"the bot exited:\n{self.log()}"

    def exited(self) -> bool:
        return self.process is not None and self.process.returncode is not None

    async def stop(self) -> int | None:
        """SIGTERM, as an operator's Ctrl-C or a service manager would."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 40)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def small_settings(database_url: str, person: Person, *, size: int = 64) -> None:
    """Give a person tiny, fast pictures (the settings menu offers 256 px and up)."""
    from engine.jobs.db import make_engine, make_sessionmaker, upgrade
    from engine.jobs.models import User

    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            user = s.get(User, person.id) or User(id=person.id)
            user.size, user.quality = size, "fast"
            user.language = person.user.get("language_code")  # as the bot stores it
            user.strength, user.keep_colors, user.send_file = 1.0, False, False
            s.add(user)
    finally:
        engine.dispose()
