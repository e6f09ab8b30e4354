"""The whole service under load: the real bot, real engine workers, simulated people.

    python -m bench.load                      # every configuration, then the kill -9 run
    python -m bench.load --quick              # 6 people, 1 job each, SQLite: 1 worker, kill
    python -m bench.load --arrive-over 0      # everyone at once only (no arrivals over 60 s)
    python -m bench.load --people 20 --jobs 1 --workers 1 2 --no-kill
    python -m bench.load --write              # also put the table in docs/BENCHMARKS.md
    python -m bench.load --json out.json      # and every number, for programs

Each configuration starts our fake Telegram Bot API server (tests/fake_telegram), a fresh
database, ``python -m bot --no-engine`` and N ``python -m engine work`` processes, exactly as
an operator would run them, and lets N simulated people each send a photo and tap a preset
painting, JOBS times, all at once (and, in one more run, at random moments over
``--arrive-over`` seconds, as people come to a real bot). Every job must be answered exactly
once: the run fails
(exit status 1) when a result is missing, comes twice, or when the database disagrees.

Measured per job, from the person's side and from the jobs table:

- *photo→result*: from the moment the person's photo reaches Telegram to the moment the
  result photo is in their chat (one monotonic clock: the fake server runs in this process);
- *queue wait*: ``started_at - created_at``, time in the queue (behind other jobs, or until
  an idle worker next polls);
- *run*: the worker's recorded ``run_seconds``: reading the job's pictures, the optimisation,
  encoding the result;
- *overhead*: photo→result minus the two: everything else the service adds (polling Telegram,
  downloading and storing the photo, the gallery, queueing, storing the result, the delivery
  loop, uploading the result), split further into photo→queued, the worker outside the run
  and finished→in the chat.

Each worker runs torch on one thread (``OMP_NUM_THREADS=1``), so one worker is one core.
In the kill run, leases are 10 s (``JOB_LEASE_SECONDS``) so the killed worker's job comes
back soon; a busy worker (its heartbeat names a job) is the one killed.

Results go to stdout as markdown tables of numbers; ``--write`` also replaces the "Load
(issue #5)" section of docs/BENCHMARKS.md (and nothing else in it), ``--json`` writes them for
programs. What they mean is for the person who ran it to write.

The parts, by role: ``service`` (the bot and workers as processes, the databases), ``people``
(the simulated people), ``checks`` (exactly once, and the timings), ``report`` (the tables),
``run`` (one configuration, start to end); this module reads the command line.

PostgreSQL comes from ``--postgres URL`` or ``TEST_POSTGRES_URL`` (``scripts/pg-scratch
start`` prints one); each configuration gets a database of its own on that server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
import time
from pathlib import Path

from .outcome import Config
from .report import (
    INTRO,
    SECTION,
    as_json,
    breakdown,
    kill_notes,
    machine,
    summary,
    summary_table,
    table,
    write_section,
)
from .run import run_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2, help="jobs per person")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts on PostgreSQL"
    )
    parser.add_argument("--kill-workers", type=int, default=2, help="workers in the kill run")
    parser.add_argument(
        "--arrive-over",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="one more run (2 workers) where people come at random moments in this many "
        "seconds instead of all at once (0: skip it)",
    )
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL"))
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill -9 run")
    parser.add_argument(
        "--no-light",
        dest="light",
        action="store_false",
        help="skip the light-load run (2 people against 2 workers on PostgreSQL)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="6 people, 1 job each, SQLite only: 1 worker, arrivals over 5 s, the kill run",
    )
    parser.add_argument(
        "--no-previews",
        action="store_true",
        help="people with live previews off (a text status message, as before issue #14)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per configuration")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write every number to FILE (JSON)"
    )
    args = parser.parse_args(argv)

    if args.quick:
        args.people, args.jobs, args.no_postgres = 6, 1, True
        args.arrive_over = min(args.arrive_over, 5.0)
    if args.no_postgres:
        args.postgres = None
    if not args.no_postgres and not args.postgres:
        parser.error(
            "PostgreSQL configurations need --postgres URL or TEST_POSTGRES_URL "
            "(scripts/pg-scratch start prints one), or --no-postgres"
        )
    configs = [] if args.no_sqlite and not args.no_postgres else [Config("sqlite", 1)]
    if not args.no_postgres:
        configs += [Config("postgresql", n) for n in args.workers]
        if args.light:
            configs.append(Config("postgresql", 2, people=2, light=True))
    if args.arrive_over:
        database = "sqlite" if args.no_postgres else "postgresql"
        configs.append(Config(database, 2, arrive_over=args.arrive_over))
    if not args.no_kill:
        database = "sqlite" if args.no_postgres else "postgresql"
        configs.append(Config(database, args.kill_workers, kill=True))

    began = time.monotonic()
    load_before = os.getloadavg()[0]
    outcomes = []
    for config in configs:
        people = config.people or args.people
        print(f"== {config.name}: {people} people x {args.jobs} jobs", flush=True)
        outcome = asyncio.run(
            run_config(
                config,
                people=people,
                jobs=args.jobs,
                postgres=args.postgres,
                timeout=args.timeout,
                previews=not args.no_previews,
            )
        )
        for problem in outcome.problems[:20]:
            print(f"   PROBLEM: {problem}")
        print(table([outcome]).splitlines()[-1], flush=True)
        outcomes.append(outcome)

    shown = [a if "://" not in a else "URL" for a in (argv if argv is not None else sys.argv[1:])]
    command = " ".join(["python -m bench.load", *shown])
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = "\n".join(
        [
            f"Measured {when} on {machine(args.postgres, load_before)}.",
            f"Command: `{command}` ({(time.monotonic() - began) / 60:.1f} min in all); "
            f"{args.people} people x {args.jobs} jobs each, the `fast` preset at 64 px.",
            "",
            table(outcomes),
            "",
            *kill_notes(outcomes),
            "",
            "Where the overhead goes (p50 of each part, so they need not add up):",
            "",
            breakdown(outcomes),
            "",
            "The figures to compare across runs:",
            "",
            summary_table(summary(outcomes)),
        ]
    )
    print("\n" + report)
    if args.json:
        args.json.write_text(json.dumps(as_json(outcomes), indent=2, allow_nan=True) + "\n")
    if args.write:
        write_section(f"{SECTION}\n\n{INTRO}\n\n{report}\n")
        print("\nwrote the section to docs/BENCHMARKS.md")
    failed = [o for o in outcomes if o.problems]
    if failed:
        print(f"\nFAILED: {', '.join(o.config.name for o in failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
