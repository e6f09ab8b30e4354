"""What one configuration of the load run is, and what came of it: the raw measurements."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Config:
    database: str  # "sqlite" | "postgresql"
    workers: int
    kill: bool = False  # SIGKILL one worker half way, then start a new one
    people: int | None = None  # None: --people
    light: bool = False  # a light load: as many people as workers, to see the bare overhead
    arrive_over: float = 0.0  # people come at random moments in this many seconds (0: at once)

    @property
    def name(self) -> str:
        extra = (
            ", one killed half way"
            if self.kill
            else ", light load"
            if self.light
            else f", arriving over {self.arrive_over:.0f} s"
            if self.arrive_over
            else ""
        )
        return f"{'SQLite' if self.database == 'sqlite' else 'PostgreSQL'}, {self.workers}{extra}"


@dataclass
class Outcome:
    config: Config
    jobs: int
    seconds: float  # first photo to last result
    total: list[float] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)
    first_overhead: list[float] = field(default_factory=list)  # each person's first job only
    intake: list[float] = field(default_factory=list)  # photo sent -> job queued
    to_gallery: list[float] = field(default_factory=list)  # photo sent -> gallery in the chat
    tap_to_queued: list[float] = field(default_factory=list)  # tap -> queued message in chat
    worker_extra: list[float] = field(default_factory=list)  # claimed -> finished, minus run
    delivery: list[float] = field(default_factory=list)  # finished -> result in the chat
    problems: list[str] = field(default_factory=list)
    people: int = 0
    per_person: int = 0
    edits: int = 0  # status-message edits (queue place, progress, picture) the bot made in the run
    pictures: int = 0  # of those, new pictures (editMessageMedia: live previews, the result)
    previews: bool = True  # the people had live previews on
    bot_cpu: float = float("nan")  # CPU seconds the bot process used in the run
    killed_worker: bool = False  # the kill run: a worker got SIGKILL and a new one started
    killed_job: int | None = None  # the job a SIGKILLed worker was running
    retried: list[int] = field(default_factory=list)  # jobs claimed more than once

    @property
    def per_minute(self) -> float:
        return 60 * self.jobs / self.seconds


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
