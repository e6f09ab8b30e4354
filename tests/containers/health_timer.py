"""Run the containers' health checks on time, as systemd's timers do for podman elsewhere.

Podman is no daemon: on a machine with systemd it asks systemd for one timer per container
that runs ``podman healthcheck run`` at the image's interval. Where scripts/container-check
runs podman there is no systemd, so nothing would run the checks, every container would stay
"starting", and compose's ``condition: service_healthy`` would wait forever. This plays the
timers' part: every container that has a health check gets ``podman healthcheck run`` at its
own interval, counted from when it (re)started, until it stops. Podman does the rest (the
start period, the retries, the status). Runs until killed.

    python3 health_timer.py [PODMAN]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

POLL_SECONDS = 1.0


def health_intervals(podman: str) -> dict[tuple[str, str], float]:
    """(container id, started at) -> seconds between checks, for running containers that
    have a health check."""
    ids = subprocess.run(
        [podman, "ps", "-q", "--no-trunc"], capture_output=True, text=True, check=False
    ).stdout.split()
    if not ids:
        return {}
    inspected = subprocess.run(
        [podman, "inspect", "--type", "container", *ids],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    intervals: dict[tuple[str, str], float] = {}
    for container in json.loads(inspected or "[]"):
        check = (container.get("Config") or {}).get("Healthcheck") or {}
        test = check.get("Test") or []
        if not test or test[0] == "NONE":
            continue
        interval_ns = check.get("Interval") or 30_000_000_000  # Docker's default, 30 s
        started = container["State"].get("StartedAt", "")
        intervals[(container["Id"], started)] = interval_ns / 1e9
    return intervals


def main() -> int:
    podman = sys.argv[1] if len(sys.argv) > 1 else "podman"
    due: dict[tuple[str, str], float] = {}
    running: dict[str, subprocess.Popen[bytes]] = {}
    while True:
        now = time.monotonic()
        intervals = health_intervals(podman)
        # A container seen for the first time (or restarted: a new StartedAt) is first checked
        # one interval from now, as a fresh timer would.
        due = {key: due.get(key, now + intervals[key]) for key in intervals}
        for key, when in due.items():
            container_id = key[0]
            busy = running.get(container_id)
            if when > now or (busy is not None and busy.poll() is None):
                continue
            running[container_id] = subprocess.Popen(
                [podman, "healthcheck", "run", container_id],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            due[key] = now + intervals[key]
        for container_id, process in list(running.items()):
            if process.poll() is not None:
                del running[container_id]
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
