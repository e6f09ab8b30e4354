"""The load benchmark (bench/load) cannot rot: its exactly-once check works, and it runs.

The slow test runs the real thing in its smallest form: the bot, the fake Telegram server,
three people with one job each against one worker on SQLite, then the same with one of two
workers killed with SIGKILL half way and a new one started.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.load.__main__ import Config, Outcome, Sent, check_chats, reading
from tests.support.fake_telegram import FakeTelegram, Person

REPO = Path(__file__).resolve().parents[2]


def result(tg: FakeTelegram, person: Person, job_id: int, *, kind: str = "photo") -> None:
    """The bot's answer to a job, as the bot sends it: a captioned photo with job buttons."""
    tg.record_message(
        person.id,
        {
            "message_id": tg.new_message_id(),
            "chat": person.chat,
            kind: [{"file_id": "x"}] if kind == "photo" else {"file_id": "x"},
            "caption": "Here it is.",
            "reply_markup": {
                "inline_keyboard": [[{"text": "➕ Stronger", "callback_data": f"r:{job_id}:s"}]]
            },
        },
        from_bot=True,
    )


def test_the_check_passes_when_each_job_is_answered_once() -> None:
    tg = FakeTelegram()
    alice, bob = Person(tg), Person(tg, first_name="Bob")
    sent = [Sent(alice, 0.0, 1), Sent(alice, 0.0, 2), Sent(bob, 0.0, 3)]
    for person, job in ((alice, 1), (alice, 2), (bob, 3)):
        result(tg, person, job)
    problems, results = check_chats([alice, bob], sent)
    assert problems == []
    assert sorted(results) == [1, 2, 3]


def test_the_check_catches_a_duplicate_a_loss_a_stray_file_and_a_wrong_chat() -> None:
    tg = FakeTelegram()
    alice, bob, carol = Person(tg), Person(tg, first_name="Bob"), Person(tg, first_name="Carol")
    sent = [Sent(alice, 0.0, 1), Sent(bob, 0.0, 2), Sent(carol, 0.0, 3)]
    result(tg, alice, 1)
    result(tg, alice, 1)  # twice
    # Bob's job 2 is lost; Carol gets job 3 as a photo and again as a file, and Bob's job.
    result(tg, carol, 3)
    result(tg, carol, 3, kind="document")
    result(tg, carol, 2)
    problems, _ = check_chats([alice, bob, carol], sent)
    text = "\n".join(problems)
    assert "job 1 was answered 2 times" in text
    assert f"person {bob.id} asked for 1 pictures and got 0 result photos" in text
    assert "job 2's result went to the wrong person" in text
    assert f"person {carol.id} asked for 1 pictures and got 2 result photos and 1 files" in text


def test_throughput_compares_bursts_with_bursts() -> None:
    """The light, arriving and kill runs also use 2 workers; the speed-up is the burst's."""

    def run(config: Config, jobs_per_minute: float) -> Outcome:
        return Outcome(config=config, jobs=60, seconds=3600 / jobs_per_minute)

    outcomes = [
        run(Config("postgresql", 1), 30),
        run(Config("postgresql", 2), 57),
        run(Config("postgresql", 2, light=True, people=2), 20),
        run(Config("postgresql", 2, arrive_over=60), 45),
        run(Config("postgresql", 2, kill=True), 50),
    ]
    assert "2 workers 1.90x." in reading(outcomes)[0]


@pytest.mark.slow
def test_the_smallest_load_run_answers_every_job_exactly_once() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            "--people",
            "3",
            "--jobs",
            "1",
            "--no-postgres",
            "--arrive-over",
            "3",
            "--timeout",
            "180",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    rows = [line for line in output.splitlines() if line.startswith("| SQLite")]
    assert any(r.startswith("| SQLite, 1 | 3 × 1 | yes |") for r in rows), output[-3000:]
    assert any(r.startswith("| SQLite, 2, one killed half way | 3 × 1 | yes |") for r in rows)
    assert any(r.startswith("| SQLite, 2, arriving over 3 s | 3 × 1 | yes |") for r in rows)
    assert "one worker got SIGKILL" in output
    assert "PROBLEM" not in output
