"""What keeping a video job's painted frames costs, and what resuming from them costs.

    python bench/bench_clip_frames.py                      # SQLite, 120 frames of 256 x 192
    python bench/bench_clip_frames.py --frames 60 --side 512 --url postgresql+psycopg://...

A worker stores each frame the moment it is painted (``engine.jobs.clip_frames.store``, in a
transaction of its own, under the job's claim) so that the next worker can resume a job whose
worker died; this measures, for frames of the size a CPU (256 px) or GPU (512 px) worker
paints: the JPEG encoding of a frame, its fenced write, its bytes, and reading every frame back
as a resuming worker does (``clip_frames.finished`` + decoding). Set against the seconds a CPU
takes to paint a frame (docs/BENCHMARKS.md, the video section), that is the price of resuming.

The frames are drawn here (a gradient with a moving square and some noise, so that JPEG has
detail to keep); no torch. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.contract import VIDEO_FRAME_QUALITY, VideoParams  # noqa: E402
from engine.images import encode_image  # noqa: E402
from engine.jobs import blobs, clip_frames, queue  # noqa: E402
from engine.jobs.db import make_engine, make_sessionmaker, upgrade  # noqa: E402
from engine.jobs.models import User  # noqa: E402


def frame(index: int, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack([40 + 160 * xs / width, 40 + 160 * ys / height, 128 + 0 * xs], axis=2)
    pixels += rng.normal(0, 12, pixels.shape)  # brush-stroke-like detail for the JPEG
    side = height // 4
    x = (index * 3) % max(1, width - side)
    pixels[height // 3 : height // 3 + side, x : x + side] = (240, 220, 60)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--side", type=int, default=256, help="long side of a frame, px")
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    width, height = args.side, args.side * 3 // 4
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        with maker.begin() as s:
            s.merge(User(id=1))
            s.flush()
            sha = blobs.put_image(s, b"a clip", mime="video/mp4", width=width, height=height)
            job_id = queue.submit(
                s, user_id=1, chat_id=1, content_sha=sha, styles=[(sha, 1.0)], params=VideoParams()
            ).id
        with maker.begin() as s:
            job = queue.claim(s, worker_id="bench", lease_seconds=600)
            assert job is not None and job.id == job_id
            token = str(job.claim_token)
        rng = np.random.default_rng(1)
        pictures = [frame(i, width, height, rng) for i in range(args.frames)]
        encode_ms, write_ms, sizes = [], [], []
        for index, picture in enumerate(pictures):
            started = time.perf_counter()
            data = encode_image(picture, format="JPEG", quality=VIDEO_FRAME_QUALITY)
            encoded = time.perf_counter()
            with maker.begin() as s:
                painted = clip_frames.Finished(index, data, width, height)
                assert clip_frames.store(
                    s, job_id, worker_id="bench", token=token, frames=[painted]
                )
            written = time.perf_counter()
            encode_ms.append(1000 * (encoded - started))
            write_ms.append(1000 * (written - encoded))
            sizes.append(len(data))
        started = time.perf_counter()
        with maker() as s:
            stored = clip_frames.finished(s, job_id)
        read = time.perf_counter()
        decoded = [Image.open(io.BytesIO(data)).convert("RGB") for data in stored.values()]
        done = time.perf_counter()
        assert len(decoded) == args.frames
        engine.dispose()
        backend = url.split(":", 1)[0].split("+", 1)[0]
    machine = platform.processor() or platform.machine()
    print(f"{machine}, {backend}, python {sys.version.split()[0]}")
    print(f"{args.frames} frames of {width} x {height}, JPEG quality {VIDEO_FRAME_QUALITY}\n")
    print("| per frame | median | p90 |")
    print("|---|---|---|")
    for name, values in (("encode (ms)", encode_ms), ("fenced write (ms)", write_ms)):
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"| {name} | {statistics.median(values):.2f} | {p90:.2f} |")
    print(f"| bytes (KB) | {statistics.median(sizes) / 1024:.1f} | |")
    print(
        f"\nresume: read {args.frames} frames {1000 * (read - started):.0f} ms, decode "
        f"{1000 * (done - read):.0f} ms; kept in all {sum(sizes) / 2**20:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
