"""What to watch: /metrics on the bot (the queue's state, Telegram's errors, answers) and on a
worker (its jobs and their run time), scraped over HTTP as Prometheus would."""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.store.people import ensure_person
from engine.jobs import blobs, metrics
from engine.jobs.worker import JobInput, JobResult, Progress
from tests.support.bot_harness import running_bot
from tests.support.fake_telegram import FakeTelegram, Person
from tests.support.jobs import Maker, make_worker, submit
from tests.support.pictures import draw_image

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """Every sample on /metrics, by name and labels: ``name{label="v"}`` -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_the_bot_serves_the_queue_telegram_errors_and_answers(
    tg: FakeTelegram, db_url: str, presets_dir: Path
) -> None:
    port = free_port()
    env = {
        "METRICS_PORT": str(port),
        "DELIVERY_RETRY_SECONDS": "0.05",
        "DELIVERY_MAX_ATTEMPTS": "2",
    }
    async with running_bot(tg, db_url, presets_dir, **env) as application:
        maker: Maker = application.bot_data.sessionmaker
        alice = Person(tg)
        tg.fail_chat(alice.id)  # blocked: undeliverable at once
        with maker.begin() as s:
            ensure_person(s, user_id=alice.id, telegram_language="en")
        with maker.begin() as s:
            sha = blobs.put_image(s, draw_image(), mime="image/jpeg", width=64, height=48)
        submit(maker, alice.id, sha)  # queued
        before = await asyncio.to_thread(scrape, port)
        assert before["stylebot_database_up"] == 1
        assert before['stylebot_jobs{state="queued"}'] == 1
        assert before["stylebot_live_workers"] == 0
        assert before["stylebot_delivery_lag_seconds"] == 0
        worker = make_worker(maker, Path("."), lambda job, progress: _jpeg(job, progress))
        await asyncio.to_thread(worker.run, once=True)
        await tg.wait_for(lambda: tg.calls_of("sendPhoto"))
        await asyncio.sleep(6)  # past the collector's cache
        after = await asyncio.to_thread(scrape, port)
    assert after['stylebot_jobs{state="done"}'] == 1
    assert after["stylebot_jobs_undeliverable"] == 1
    assert after['stylebot_deliveries_total{outcome="undeliverable"}'] >= 1
    assert after['stylebot_telegram_errors_total{kind="forbidden"}'] >= 1
    assert "stylebot_telegram_429_total" in after
    assert after["stylebot_job_run_seconds_count"] >= 1  # the worker ran in this process


def _jpeg(job: JobInput, progress: Progress) -> JobResult:
    return JobResult(data=draw_image(), mime="image/jpeg", width=64, height=48)


def test_a_worker_serves_its_jobs_and_run_times(
    maker: Maker, people: list[int], picture: str, tmp_path: Path
) -> None:
    port = free_port()
    stop = metrics.serve(port, addr="127.0.0.1")
    try:
        before = scrape(port).get('stylebot_worker_jobs_total{outcome="done"}', 0)
        submit(maker, people[0], picture)
        make_worker(maker, tmp_path, _jpeg).run(once=True)
        after = scrape(port)
    finally:
        stop()
    assert after['stylebot_worker_jobs_total{outcome="done"}'] == before + 1
    assert after["stylebot_job_run_seconds_count"] >= 1


REPO = Path(__file__).resolve().parents[2]


def deploy_section() -> str:
    text = (REPO / "docs" / "DEPLOY.md").read_text()
    return text.split("## Metrics and alerts", 1)[1].split("\n## ", 1)[0]


def test_the_deploy_guide_names_only_metrics_that_exist_and_its_rules_parse() -> None:
    """DEPLOY.md's table, scrape configuration and alert rules cannot drift from the code: a
    renamed metric would leave an alert that never fires."""
    section = deploy_section()
    code = (REPO / "bot" / "metrics.py").read_text() + (
        REPO / "engine" / "jobs" / "metrics.py"
    ).read_text()
    named = set(re.findall(r"\bstylebot_[a-z0-9_]+", section))
    assert len(named) >= 15  # the reader found the table, not nothing
    missing = {name for name in named if f'"{name}"' not in code}
    assert not missing, f"DEPLOY.md names metrics the code does not export: {missing}"
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    scrape, alerts = blocks
    assert {job["job_name"] for job in scrape["scrape_configs"]} == {
        "stylebot-bot",
        "stylebot-workers",
    }
    rules = alerts["groups"][0]["rules"]
    assert [rule["alert"] for rule in rules] == [
        "StylebotDeliveryStalled",
        "StylebotNoLiveWorker",
        "StylebotUndeliverableRising",
    ]
    for rule in rules:
        assert rule["expr"].count("(") == rule["expr"].count(")")
        assert set(re.findall(r"\bstylebot_[a-z0-9_]+", rule["expr"])) <= named
