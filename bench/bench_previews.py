"""What live previews and time-lapses cost: the worker's time and writes, the bytes stored, the
film's encoding, the status message's first picture.

    python bench/bench_previews.py                      # CPU: fast and balanced, on and off
    python bench/bench_previews.py --presets fast --device cuda

Each job runs through the real worker loop (engine.jobs.worker.Worker with the real engine,
engine.bridge.StyleRunner) on a scratch SQLite database, once with previews and frames (the
defaults: a preview at most every PREVIEW_SECONDS, 48 frames) and once without
(PREVIEW_SECONDS=0, TIMELAPSE_FRAMES=0). The worker measures the time it spends taking and
encoding previews and frames inside the run; that is the overhead, and the run times on and
off are reported beside it (on a shared CPU they differ by more than the overhead from noise
alone). Then the film is made from the stored frames as the bot makes it, and the status
message's photo is shrunk as the bot does it.

Pictures: ../shared/images (beside the checkout) when it is there, else drawn ones.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from engine import images, timelapse
from engine.contract import PREVIEW_SIDE, PhotoParams
from engine.jobs import blobs, outputs
from engine.jobs.db import make_engine, make_sessionmaker, upgrade
from engine.jobs.models import Job, User
from engine.jobs.settings import EngineSettings
from engine.jobs.worker import Worker

SHARED = Path(__file__).resolve().parents[2] / "shared" / "images"


def pictures() -> tuple[bytes, bytes, str]:
    content, style = SHARED / "content" / "chicago.jpg", SHARED / "styles"
    paintings = sorted(style.glob("*.jpg")) if style.is_dir() else []
    if content.exists() and paintings:
        return (
            content.read_bytes(),
            paintings[0].read_bytes(),
            f"{content.name}, {paintings[0].name}",
        )
    from tests.support.pictures import encoded, painting_like, photo_like

    drawn = encoded(photo_like(1024, 768, 1)), encoded(painting_like(512, 512, 2))
    return drawn[0], drawn[1], "drawn pictures (no ../shared/images)"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(runner: object, preset: str, *, shown: bool, photo: bytes, style: bytes) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        with maker.begin() as s:
            s.add(User(id=1))
            s.flush()
            content = blobs.put_image(s, photo, mime="image/jpeg", width=1, height=1)
            painting = blobs.put_image(s, style, mime="image/jpeg", width=1, height=1)
            from engine.jobs import queue

            job_id = queue.submit(
                s,
                user_id=1,
                chat_id=1,
                content_sha=content,
                styles=[(painting, 1.0)],
                params=PhotoParams(preset=preset, seed=1),
            ).id
        settings = EngineSettings(
            data_dir=Path(directory),
            database_url=url,
            preview_seconds=5.0 if shown else 0.0,
            timelapse_frames=48 if shown else 0,
        )
        writes = 0

        def count(*_: object) -> None:
            nonlocal writes
            writes += 1

        from sqlalchemy import event

        event.listen(engine, "commit", count)
        worker = Worker(maker, settings, run_job=runner, worker_id="bench")  # type: ignore[arg-type]
        worker.run(once=True)
        event.remove(engine, "commit", count)
        with maker() as s:
            job = s.get(Job, job_id)
            assert job is not None and job.state == "done", job and job.error
            run_seconds = job.run_seconds or 0.0
            frames = outputs.frames_of(s, job_id)
            result = blobs.get_image(s, job.result_sha or "")
        engine.dispose()
        costs = worker.last_costs
        assert costs is not None
        out = {
            "preset": preset,
            "shown": shown,
            "run": run_seconds,
            "transactions": writes,
            "previews": costs.previews,
            "preview_kb": costs.preview_bytes / 1024,
            "frames": costs.frames,
            "frame_kb": costs.frame_bytes / 1024,
            "output_s": costs.seconds,
        }
        if frames:
            began, cpu = time.perf_counter(), cpu_seconds()
            film = timelapse.film_of(photo, frames, result)
            out["film_s"] = time.perf_counter() - began
            out["film_cpu"] = cpu_seconds() - cpu
            out["film_kb"] = len(film.data) / 1024
            out["film_size"] = f"{film.width}x{film.height}, {film.seconds:.1f} s"
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["fast", "balanced"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from engine.bridge import StyleRunner

    photo, style, which = pictures()
    runner = StyleRunner(args.device)
    print(
        f"# bench_previews: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {runner.describe()}; {which}"
    )
    print(f"# {' '.join(sys.argv)}")
    print()
    print(
        "| preset | previews | run | transactions | previews written (KB) | frames (KB) "
        "| time on previews and frames | film: encode (CPU), size |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        for shown in (True, False):
            r = run_one(runner, preset, shown=shown, photo=photo, style=style)
            share = 100 * r["output_s"] / max(r["run"], 1e-9)
            film = (
                f"{r['film_s']:.2f} s ({r['film_cpu']:.2f} s), {r['film_kb']:.0f} KB, "
                f"{r['film_size']}"
                if "film_s" in r
                else "-"
            )
            print(
                f"| {preset} | {'on' if shown else 'off'} | {r['run']:.1f} s "
                f"| {r['transactions']} | {r['previews']} ({r['preview_kb']:.0f}) "
                f"| {r['frames']} ({r['frame_kb']:.0f}) "
                f"| {r['output_s']:.2f} s ({share:.1f}%) | {film} |",
                flush=True,
            )
    # The status message's first picture: the person's photo, shrunk in the bot.
    times = []
    for _ in range(5):
        began = time.perf_counter()
        small = images.small_jpeg_of(photo, PREVIEW_SIDE)
        times.append(time.perf_counter() - began)
    size = Image.open(io.BytesIO(photo)).size
    print()
    print(
        f"status photo: {size[0]}x{size[1]} JPEG -> {small.width}x{small.height}, "
        f"{len(small.data) / 1024:.0f} KB, {1000 * min(times):.0f} ms (best of 5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
