"""The report: markdown tables of the numbers, and the figures a reader compares across runs.

It says what was measured, never what it means: the reading belongs in docs/BENCHMARKS.md,
written by the person who ran it. ``as_json`` gives the same numbers to programs (and to the
test that keeps this benchmark from rotting).
"""

from __future__ import annotations

import math
import os
import platform
from typing import Any

from sqlalchemy import create_engine, text

from .outcome import Outcome, percentile
from .service import REPO

SECTION = "## Load (issue #5)"
TARGET_OVERHEAD_P50 = 0.5  # seconds the service may add to a job, at the median

INTRO = """\
The whole service under load, as `bench/load` runs it: the real bot (`python -m bot
--no-engine`) talks to our fake Telegram Bot API server over HTTP, and engine workers
(`python -m engine work`, one torch thread each) take the jobs from a fresh database per
configuration. Simulated people all start at once (in the last run but one, at random moments
over a minute instead); each sends a photo, taps a preset painting, waits until the job is
queued, and repeats. Every result must reach the right person exactly
once (the run fails otherwise). *photo→result*: from the photo reaching Telegram to the result
in the chat. *queue wait*: `started_at - created_at`. *run*: the worker's `run_seconds` (from
claiming a job's pictures to the encoded result). *overhead*: photo→result minus queue wait and
run, i.e. what the service itself adds. *worker outside the run*: `finished_at - started_at -
run_seconds` (storing the result). Throughput compares bursts with bursts: the light-load,
arriving and kill runs are not like for like."""


def machine(postgres: str | None, load_before: float) -> str:
    import sqlite3

    import torch

    line = (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, SQLite {sqlite3.sqlite_version}"
    )
    if postgres:
        engine = create_engine(postgres)
        try:
            with engine.connect() as connection:
                version = connection.execute(text("SHOW server_version")).scalar()
            line += f", PostgreSQL {version}"
        finally:
            engine.dispose()
    return (
        line + f"; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} at the end "
        "(the machine is shared)"
    )


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| database, workers | people × jobs | answered once | jobs/min | photo→result p50 | p95 "
        "| queue wait p50 | run p50 | overhead p50 | overhead p95 |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        ok = "yes" if not o.problems else f"**no** ({len(o.problems)} problems)"
        lines.append(
            f"| {o.config.name} | {o.people} × {o.per_person} | {ok} | {o.per_minute:.1f} "
            f"| {percentile(o.total, 50):.2f} s | {percentile(o.total, 95):.2f} s "
            f"| {percentile(o.wait, 50):.2f} s | {percentile(o.run, 50):.2f} s "
            f"| {percentile(o.overhead, 50):.2f} s | {percentile(o.overhead, 95):.2f} s |"
        )
    return "\n".join(lines)


def breakdown(outcomes: list[Outcome]) -> str:
    lines = [
        "| database, workers | overhead p50 | first jobs' overhead p50 | photo→queued p50 "
        "| photo→gallery p50 "
        "| tap→queued message p50 | worker outside the run p50 "
        "| finished→in the chat p50 | finished→in the chat p95 | status edits per job "
        "| of which pictures | bot CPU per job |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.config.name} | {percentile(o.overhead, 50):.2f} s "
            f"| {percentile(o.first_overhead, 50):.2f} s "
            f"| {percentile(o.intake, 50):.2f} s | {percentile(o.to_gallery, 50):.2f} s "
            f"| {percentile(o.tap_to_queued, 50):.2f} s | {percentile(o.worker_extra, 50):.2f} s "
            f"| {percentile(o.delivery, 50):.2f} s | {percentile(o.delivery, 95):.2f} s "
            f"| {o.edits / max(o.jobs, 1):.1f} | {o.pictures / max(o.jobs, 1):.1f} "
            f"| {1000 * o.bot_cpu / max(o.jobs, 1):.0f} ms |"
        )
    return "\n".join(lines)


def kill_notes(outcomes: list[Outcome]) -> list[str]:
    notes = []
    for o in outcomes:
        if not o.config.kill:
            continue
        killed = "yes" if o.killed_worker else "no"
        job = "between jobs" if o.killed_job is None else f"job {o.killed_job}"
        again = ", ".join(str(j) for j in o.retried) or "none"
        notes.append(
            f"- {o.config.name}: worker killed: {killed}; running: {job}; "
            f"claimed more than once: {again}; problems: {len(o.problems)}"
        )
    return notes


def _bursts(outcomes: list[Outcome]) -> list[Outcome]:
    """Everyone at once, not killed: the runs whose throughput compares."""
    return [o for o in outcomes if not (o.config.kill or o.config.light or o.config.arrive_over)]


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    """The figures a reader compares across runs, worked out from the outcomes."""
    numbers: dict[str, Any] = {}
    pg = {o.config.workers: o for o in _bursts(outcomes) if o.config.database != "sqlite"}
    if 1 in pg and len(pg) > 1:
        numbers["speedup"] = {
            n: pg[n].per_minute / pg[1].per_minute for n in sorted(pg) if n != 1
        }  # PostgreSQL bursts, against one worker
    sqlite = [o for o in _bursts(outcomes) if o.config.database == "sqlite"]
    if sqlite and 1 in pg:
        numbers["one_worker_jobs_per_minute"] = {
            "sqlite": sqlite[0].per_minute,
            "postgresql": pg[1].per_minute,
        }
    normal = [o for o in outcomes if not o.config.kill]
    numbers["overhead_p50"] = {o.config.name: percentile(o.overhead, 50) for o in normal}
    numbers["overhead_p50_under_target"] = {
        name: value < TARGET_OVERHEAD_P50 for name, value in numbers["overhead_p50"].items()
    }
    repeated = [o for o in _bursts(outcomes) if o.per_person > 1]
    if repeated:
        numbers["first_jobs_overhead_p50"] = {
            o.config.name: percentile(o.first_overhead, 50) for o in repeated
        }
    measured = [o for o in normal if o.overhead]
    if measured:
        heavy = max(measured, key=lambda o: percentile(o.overhead, 50))
        numbers["largest_overhead_parts_p50"] = {
            "configuration": heavy.config.name,
            "photo→queued": percentile(heavy.intake, 50),
            "photo→gallery": percentile(heavy.to_gallery, 50),
            "tap→queued message": percentile(heavy.tap_to_queued, 50),
            "finished→in the chat": percentile(heavy.delivery, 50),
            "worker outside the run": percentile(heavy.worker_extra, 50),
        }
    light = [o for o in outcomes if o.config.light]
    if light:
        numbers["light_load_queue_wait_p50"] = {
            o.config.name: percentile(o.wait, 50) for o in light
        }
    return numbers


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.2f}"
    return str(value)


LABELS = {  # each figure of ``summary``, with its unit
    "speedup": "throughput against 1 worker, PostgreSQL bursts (x)",
    "one_worker_jobs_per_minute": "jobs/min with 1 worker",
    "overhead_p50": "overhead p50 (s)",
    "overhead_p50_under_target": f"overhead p50 under {TARGET_OVERHEAD_P50:g} s",
    "first_jobs_overhead_p50": "everyone's first job: overhead p50 (s)",
    "largest_overhead_parts_p50": "the largest overhead, by part, p50 (s)",
    "light_load_queue_wait_p50": "queue wait at light load p50 (s)",
}


def summary_table(numbers: dict[str, Any]) -> str:
    """The summary as a markdown table: figure, of what, value."""
    lines = ["| figure | of | value |", "|---|---|---:|"]
    for figure, values in numbers.items():
        for of, value in values.items():
            if figure == "speedup":
                of = f"{of} workers"
            lines.append(f"| {LABELS[figure]} | {of} | {_value(value)} |")
    return "\n".join(lines)


def as_json(outcomes: list[Outcome]) -> dict[str, Any]:
    """Every configuration's numbers and the summary, for programs."""

    def p50(values: list[float]) -> float | None:
        return None if not values else percentile(values, 50)

    return {
        "configurations": [
            {
                "name": o.config.name,
                "database": o.config.database,
                "workers": o.config.workers,
                "kill": o.config.kill,
                "light": o.config.light,
                "arrive_over": o.config.arrive_over,
                "people": o.people,
                "per_person": o.per_person,
                "jobs": o.jobs,
                "answered_once": not o.problems,
                "problems": o.problems,
                "jobs_per_minute": o.per_minute,
                "photo_to_result_p50": p50(o.total),
                "queue_wait_p50": p50(o.wait),
                "run_p50": p50(o.run),
                "overhead_p50": p50(o.overhead),
                "status_edits": o.edits,
                "status_pictures": o.pictures,
                "previews": o.previews,
                "bot_cpu_seconds": o.bot_cpu,
                "killed_worker": o.killed_worker,
                "killed_job": o.killed_job,
                "retried": o.retried,
            }
            for o in outcomes
        ],
        "summary": {
            figure: {str(k): v for k, v in values.items()}
            for figure, values in summary(outcomes).items()
        },
    }


def write_section(body: str) -> None:
    """Replace this benchmark's section of docs/BENCHMARKS.md (read just before writing)."""
    path = REPO / "docs" / "BENCHMARKS.md"
    current = path.read_text()
    if SECTION in current:
        before, rest = current.split(SECTION, 1)
        after = rest[rest.find("\n## ") :] if "\n## " in rest else ""
        current = before.rstrip() + "\n\n" + body.rstrip() + "\n" + after
    else:
        current = current.rstrip() + "\n\n" + body.rstrip() + "\n"
    path.write_text(current)
