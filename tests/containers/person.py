"""A person talking to the bot in its container, through the test suite's fake Telegram server.

scripts/container-check runs this on the host, beside the compose stack. It serves the fake Bot
API on all addresses (the containers reach it at the compose network's gateway, which podman
names host.containers.internal), prints ``port N`` when it listens, then reads one command a
line on stdin and answers each with one line on stdout:

    wait-bot         until the bot polls for updates (it started and accepted its token)
    photo-preset     send a photo, tap the first preset painting, wait for the painted picture
    press-stronger   press "Stronger" on the last painted picture (and return at once)
    wait-result      wait for the picture that press asked for; exactly one must come
    quit

An answer is ``ok COMMAND SECONDS`` (how long it took) or ``failed COMMAND REASON``; what the
bot sent is logged on stderr.

    python tests/containers/person.py [--timeout SECONDS]
    python tests/containers/person.py --paintings DIR    (writes the preset pictures, then exits)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the tests package: tests.support

from tests.support.fake_telegram import ChatMessage, FakeTelegram, Person  # noqa: E402
from tests.support.pictures import painting, photo  # noqa: E402

logger = logging.getLogger("person")

SETTLE_SECONDS = 5.0  # the bot's delivery loop runs every second or so


# Two drawn paintings for the preset gallery (the test suite's own, never downloaded ones).
PALETTES = [((20, 30, 120), (240, 200, 40)), ((150, 20, 20), (20, 20, 20), (240, 240, 240))]


def write_paintings(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, colors in enumerate(PALETTES, 1):
        (directory / f"painting-{i}.jpg").write_bytes(painting(320, 240, colors))


def is_result(message: ChatMessage) -> bool:
    return message.kind == "photo" and "Here it is" in message.text


class Scenario:
    def __init__(self, tg: FakeTelegram, timeout: float) -> None:
        self.tg = tg
        self.timeout = timeout
        self.alice = Person(tg, first_name="Alice", language_code="en")
        self.last_result: ChatMessage | None = None
        self.pressed_at = 0  # the chat's length when Stronger was pressed

    async def wait_bot(self) -> None:
        await self.tg.wait_for(lambda: bool(self.tg.calls_of("getUpdates")), self.timeout)

    async def photo_preset(self) -> None:
        mark = len(self.alice.messages)
        self.alice.send_photo(photo(96, 64))
        gallery = await self.alice.wait_message(lambda m: m.kind == "photo", after=mark)
        logger.info("the bot shows the gallery: %s", [b.get("text") for b in gallery.buttons])
        self.alice.press(gallery, "1. Painting 1")
        await self.alice.wait_reply("queue", after=mark)
        await self._result(mark)

    async def press_stronger(self) -> None:
        assert self.last_result is not None, "no painted picture to press Stronger on"
        self.pressed_at = len(self.alice.messages)
        self.alice.press(self.last_result, "➕ Stronger")

    async def wait_result(self) -> None:
        await self._result(self.pressed_at)
        await asyncio.sleep(SETTLE_SECONDS)  # a duplicate would come within the next rounds
        results = [m for m in self.alice.sent_after(self.pressed_at) if is_result(m)]
        assert len(results) == 1, f"{len(results)} painted pictures came for one press"

    async def _result(self, mark: int) -> None:
        result = await self.alice.wait_message(is_result, after=mark, timeout=self.timeout)
        size = self.alice.largest_photo(result).size
        logger.info("painted picture received: %s px, %r", size, result.text[:80])
        self.last_result = result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=600.0, help="per step (seconds)")
    parser.add_argument("--paintings", type=Path, metavar="DIR", help="write preset pictures")
    args = parser.parse_args()
    if args.paintings:
        write_paintings(args.paintings)
        return 0
    logging.basicConfig(level=logging.INFO, format="person: %(message)s", stream=sys.stderr)

    async with FakeTelegram(host="0.0.0.0") as tg:
        scenario = Scenario(tg, args.timeout)
        commands = {
            "wait-bot": scenario.wait_bot,
            "photo-preset": scenario.photo_preset,
            "press-stronger": scenario.press_stronger,
            "wait-result": scenario.wait_result,
        }
        print(f"port {tg.port}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line in ("", "quit"):  # EOF or quit
                return 0
            step = commands.get(line)
            started = time.monotonic()
            try:
                if step is None:
                    raise ValueError(f"unknown command {line!r}")
                await step()
            except (AssertionError, TimeoutError, ValueError) as e:
                seen = [(m.kind, m.text[:60]) for m in scenario.alice.messages]
                logger.info("%s failed: %s; the chat has %s", line, e, seen)
                reason = (str(e) or type(e).__name__).splitlines()[0]
                print(f"failed {line} {reason}", flush=True)
                continue
            print(f"ok {line} {time.monotonic() - started:.1f}", flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
