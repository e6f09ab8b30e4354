"""The load benchmark (bench/load) cannot rot: its exactly-once check works, its summary's
numbers are right, and it runs.

The slow test runs the real thing in its smallest form: the bot, the fake Telegram server,
three people with one job each against one worker on SQLite, then the same with one of two
workers killed with SIGKILL half way and a new one started. Its report is read as numbers
(``--json``), never as wording.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load.checks import check_chats
from bench.load.outcome import Config, Outcome
from bench.load.people import Sent
from bench.load.report import as_json, summary
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
    assert {(p.kind, p.job, p.person, p.counts) for p in problems} == {
        ("answers to a job", 1, None, (2,)),
        ("answers to a person", None, alice.id, (1, 2, 0)),
        ("answers to a person", None, bob.id, (1, 0, 0)),
        ("wrong person", 2, carol.id, ()),
        ("answers to a person", None, carol.id, (1, 2, 1)),
    }
    assert len(problems) == 5


def test_throughput_compares_bursts_with_bursts() -> None:
    """The light, arriving and kill runs also use 2 workers; the speed-up is the burst's."""

    def run(config: Config, jobs_per_minute: float, overhead: float) -> Outcome:
        outcome = Outcome(config=config, jobs=60, seconds=3600 / jobs_per_minute)
        outcome.overhead = [overhead]
        return outcome

    outcomes = [
        run(Config("postgresql", 1), 30, 0.4),
        run(Config("postgresql", 2), 57, 0.6),
        run(Config("postgresql", 2, light=True, people=2), 20, 0.1),
        run(Config("postgresql", 2, arrive_over=60), 45, 0.2),
        run(Config("postgresql", 2, kill=True), 50, 3.0),
    ]
    numbers = summary(outcomes)
    assert numbers["speedup"] == {2: pytest.approx(1.9)}
    assert numbers["overhead_p50_under_target"] == {
        "PostgreSQL, 1": True,
        "PostgreSQL, 2": False,
        "PostgreSQL, 2, light load": True,
        "PostgreSQL, 2, arriving over 60 s": True,
    }  # the kill run is not held to the target
    assert numbers["largest_overhead_parts_p50"]["configuration"] == "PostgreSQL, 2"
    assert json.loads(json.dumps(as_json(outcomes)))["summary"]["speedup"] == {
        "2": pytest.approx(1.9)
    }


@pytest.mark.slow
def test_the_smallest_load_run_answers_every_job_exactly_once(tmp_path: Path) -> None:
    numbers = tmp_path / "load.json"
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
            "--json",
            str(numbers),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    report = json.loads(numbers.read_text())
    runs = {c["name"]: c for c in report["configurations"]}
    assert set(runs) == {
        "SQLite, 1",
        "SQLite, 2, one killed half way",
        "SQLite, 2, arriving over 3 s",
    }
    for run in runs.values():
        assert (run["people"], run["per_person"], run["jobs"]) == (3, 1, 3)
        assert run["answered_once"] and run["problems"] == []
        assert run["jobs_per_minute"] > 0 and run["photo_to_result_p50"] > 0
    killed = runs["SQLite, 2, one killed half way"]
    assert killed["kill"] and killed["killed_worker"]
    assert killed["killed_job"] is None or killed["killed_job"] in killed["retried"]
    assert set(report["summary"]["overhead_p50"]) == {"SQLite, 1", "SQLite, 2, arriving over 3 s"}
