"""One person's flood against another person's reply: how long the other person waits.

    python bench/bench_fairness.py                 # no flood, 200 texts, 200 photos; 3 rounds
    python bench/bench_fairness.py --flood 500 --kinds text --rounds 5

The real bot (``python -m bot --no-engine``) talks to our fake Telegram Bot API server over
HTTP, as in the end-to-end tests. In each round one person (the flooder) sends ``--flood``
updates at once: texts (each answered with a hint) or photos (each downloaded, checked and
stored, then answered with the gallery); *none* sends no flood, for the baseline on the same
machine at the same time. Right after the flood another person sends /help;
*delay* is the time from that update reaching Telegram to the bot's answer in the second
person's chat (one monotonic clock: the fake server runs in this process). *ahead* counts the
flooder's answers that reached their chat before the second person's answer. Between rounds
the flood drains (the bot answers or drops all of it) before the next one starts.

Prints a markdown table; what it means is for the person who ran it to write in
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.bot_harness import BotProcess, make_presets  # noqa: E402
from tests.support.fake_telegram import FakeTelegram, Person  # noqa: E402
from tests.support.pictures import photo  # noqa: E402


def bot_env(tg: FakeTelegram, tmp: Path, max_waiting: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    presets = tmp / "presets"
    make_presets(presets, count=2)
    env.update(
        BOT_TOKEN=tg.token,
        TELEGRAM_API_URL=tg.api_url,
        TELEGRAM_FILE_URL=tg.file_url,
        DATABASE_URL=f"sqlite:///{tmp / 'bot.db'}",
        DATA_DIR=str(tmp / "data"),
        PRESETS_DIR=str(presets),
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        # The flooder's own limits must not be what ends the flood early.
        MAX_UPLOADS_PER_HOUR="100000",
        MAX_STORED_MB_PER_USER="100000",
    )
    if max_waiting is not None:
        env["MAX_WAITING_UPDATES"] = str(max_waiting)
    return env


async def one_round(tg: FakeTelegram, kind: str, flood: int) -> tuple[float, int, int]:
    """(delay in seconds, the flooder's answers before it, the flooder's answers in all)."""
    flooder, other = Person(tg, first_name="Flood"), Person(tg, first_name="Other")
    picture = photo(320, 240)
    for i in range(0 if kind == "none" else flood):
        if kind == "text":
            flooder.send_text(f"hello {i}")
        else:
            flooder.send_photo(picture)
    other.command("help")
    pushed = time.monotonic()
    answer = await other.wait_reply("/settings", timeout=600)
    delay = answer.sent_at - pushed
    ahead = sum(1 for m in flooder.messages if m.sent_at < answer.sent_at)

    # Until the flood has drained: no new answer to the flooder for two seconds.
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < 2.0:
        if len(flooder.messages) != seen:
            seen, quiet_since = len(flooder.messages), time.monotonic()
        await asyncio.sleep(0.1)
    return delay, ahead, len(flooder.messages)


async def run(args: argparse.Namespace) -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-fairness-") as tmp_name:
        tmp = Path(tmp_name)
        async with FakeTelegram() as tg:
            bot = BotProcess(tg, tmp, bot_env(tg, tmp, args.max_waiting))
            await bot.start("--no-engine")
            try:
                for kind in args.kinds:
                    for n in range(args.rounds):
                        delay, ahead, answered = await one_round(tg, kind, args.flood)
                        print(
                            f"{kind} round {n + 1}: {delay:.2f} s, {ahead} of the flooder's "
                            f"answers ahead, {answered} answered",
                            file=sys.stderr,
                        )
                        rows.append((kind, delay, ahead, answered))
            finally:
                await bot.stop()
    print(
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.1f}."
    )
    print(f"Command: `python bench/bench_fairness.py {' '.join(sys.argv[1:])}`".rstrip() + "\n")
    print(
        "| flood | updates | rounds | delay median | delay max | flooder's answers ahead "
        "(median) | flooder's answers in all (median) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in args.kinds:
        mine = [r for r in rows if r[0] == kind]
        delays = [r[1] for r in mine]
        updates = 0 if kind == "none" else args.flood
        print(
            f"| {kind} | {updates} | {len(mine)} | {statistics.median(delays):.2f} s | "
            f"{max(delays):.2f} s | {statistics.median(r[2] for r in mine):.0f} | "
            f"{statistics.median(r[3] for r in mine):.0f} |"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=200, help="updates in one person's flood")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--max-waiting",
        type=int,
        metavar="N",
        help="the bot's MAX_WAITING_UPDATES (default: its own, 20); 1000 lets every update in",
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=("none", "text", "photo"),
        default=["none", "text", "photo"],
        help="none: no flood at all, the baseline",
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
