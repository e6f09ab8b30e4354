"""What to watch, as Prometheus metrics: the job system's own, and the queue's state read from
the database at each scrape. The bot (``bot/metrics.py`` adds Telegram's side) and every worker
serve them on a port of their own (``METRICS_PORT``, ``WORKER_METRICS_PORT``; off by default).

Counters and histograms live in the process's default registry, as prometheus-client expects
(one set per process, whatever runs in it). :class:`QueueCollector` reads the database when
scraped; the bot registers it, so the numbers that are the same from everywhere (jobs by
state, live workers, delivery lag, undeliverable jobs) are scraped once. Neither torch nor
telegram is imported here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

RUN_SECONDS = Histogram(
    "stylebot_job_run_seconds",
    "Time a worker spent running a job (pictures read, the optimisation, the result encoded)",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
WORKER_JOBS = Counter(
    "stylebot_worker_jobs_total",
    "Jobs this worker handled, by what came of them "
    "(done, retried, failed, cancelled, handed_back, lease_lost)",
    ["outcome"],
)
DATABASE_OUTAGES = Counter(
    "stylebot_database_outages_total",
    "Times one of this process's loops found the database unreachable",
    ["loop"],
)
DATABASE_DOWN = Gauge(
    "stylebot_database_down_loops",
    "This process's loops waiting for the database right now",
)


class QueueCollector(Collector):
    """The queue's state, read from the database at scrape time (at most every
    ``cache_seconds``); a database that cannot be read gives ``stylebot_database_up 0``."""

    def __init__(self, maker: sessionmaker[Session], *, cache_seconds: float = 5.0) -> None:
        self.maker = maker
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._numbers: Any = None

    def _gauges(self) -> Any:
        from engine.jobs.stats import gauges  # stats imports the models: only when scraped

        with self._lock:
            if time.monotonic() - self._read_at >= self.cache_seconds:
                with self.maker() as s:
                    self._numbers = gauges(s)
                self._read_at = time.monotonic()
            return self._numbers

    def describe(self) -> list[GaugeMetricFamily]:
        # Without this the registry would call collect(), and read the database, on register.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("stylebot_database_up", "1 when the queue could be read")
        try:
            numbers = self._gauges()
        except Exception as e:  # a scrape must answer, whatever the database does
            logger.debug("metrics: the queue could not be read (%s)", e)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        by_state = GaugeMetricFamily(
            "stylebot_jobs", "Jobs in the database, by state", labels=["state"]
        )
        for state, count in sorted(numbers.by_state.items()):
            by_state.add_metric([state], count)
        yield by_state
        yield _gauge(
            "stylebot_jobs_undelivered",
            "Finished jobs the bot has not answered yet",
            numbers.undelivered,
        )
        yield _gauge(
            "stylebot_delivery_lag_seconds",
            "How long the oldest finished, unanswered job has waited for its answer",
            numbers.delivery_lag_seconds,
        )
        yield _gauge(
            "stylebot_jobs_undeliverable",
            "Jobs given up as undeliverable (kept KEEP_DAYS)",
            numbers.undeliverable,
        )
        yield _gauge(
            "stylebot_live_workers", "Workers seen lately and not stopped", numbers.live_workers
        )
        yield _gauge(
            "stylebot_oldest_queued_seconds",
            "How long the longest-waiting queued job has waited",
            numbers.oldest_queued_seconds,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def register_queue(maker: sessionmaker[Session]) -> Callable[[], None]:
    """Add the queue's state to this process's metrics; returns what takes it away again."""
    collector = QueueCollector(maker)
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)


def serve(port: int | None, *, addr: str = "0.0.0.0") -> Callable[[], None]:
    """Serve ``/metrics`` on ``port`` in a background thread (None: nothing); returns what
    stops it."""
    if not port:
        return lambda: None
    server, thread = start_http_server(port, addr=addr)
    logger.info("metrics on http://%s:%d/metrics", addr, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
