"""How steady a painted clip is, and what it costs (issue #15).

    python -m bench.video                      # CPU, 256 px, 16 frames (2 s at 8 fps)
    python -m bench.video --size 512 --device cuda

The clip is made here from a shared photo (``../shared/images/content/tubingen.jpg``): the
camera pans slowly across it and zooms in, while an object (a disc cut from another photo)
moves across the frame in front, covering and uncovering the background. The painting is
``starry_night.jpg``. Then:

(a) **Temporal consistency.** The mean warping error between consecutive output frames: frame
    i painted, moved along the *input's* optical flow onto frame i+1, against frame i+1
    painted, mean squared difference (pixels in [0, 1]) over the pixels the flow marks
    reliable (Ruder et al.'s measure). Ours (engine.style.video.stylize_video) against every
    frame painted on its own with the photo schedule, each with its own seed, as a bot without
    video support would do it. The style distance (engine/style/evaluation.py) of both is
    reported beside it, so that "steadier" is not bought with "less painted". The error is
    measured with both flows, DIS and Farneback, so that it is not only the flow ours used.
(b) **Time** per frame and in total, wall and CPU seconds of this process.
(c) **Pictures**: ``bench/out/video-strip.png`` (rows: the input, each frame alone, ours) and
    both clips as MP4.

Before that, the flow methods are measured on a known motion: the photo moved by a pan and a
zoom (an affine map, so the true flow is known at every pixel); end-point error in pixels and
milliseconds per frame pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

from engine.style.evaluation import content_distance, style_distance
from engine.style.quality import params_from_options
from engine.style.transfer import TransferParams, stylize
from engine.style.vgg import VGG19Features, load_vgg19
from engine.style.video import TEMPORAL_WEIGHT, default_later_steps, stylize_video
from engine.video.clip import write_clip
from engine.video.flow import METHODS, flow, warping_error

OUT = Path(__file__).resolve().parent / "out"


def shared_images() -> Path:
    """``shared/images`` beside the checkout (or beside a worktree's parent)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "images"
        if candidate.is_dir():
            return candidate
    raise SystemExit("no shared/images beside the checkout: the benchmark needs its photos")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the clip -------------------------------------------------------------------------------


def camera(frame: int, frames: int) -> tuple[float, float, float]:
    """(zoom, pan x, pan y) of the camera at ``frame``: a slow pan right and a gentle zoom in."""
    t = frame / max(1, frames - 1)
    return 1.0 + 0.12 * t, 0.10 * t, 0.03 * t


def affine(
    photo_size: tuple[int, int], size: tuple[int, int], zoom: float, pan_x: float, pan_y: float
) -> np.ndarray:
    """The 2x3 map from the photo's pixels to the frame's: a window of the photo, zoomed."""
    width, height = photo_size
    # At zoom 1 the window is 80% of the photo's width; it shrinks as the camera zooms in.
    window = 0.8 * width / zoom
    scale = size[0] / window
    left = 0.05 * width + pan_x * width + (0.8 * width - window) / 2
    top = 0.05 * height + pan_y * height + (0.8 * width - window) / 2 * height / width
    return np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]], np.float32)


def make_clip(
    photo: Image.Image, sprite: Image.Image, *, frames: int, size: tuple[int, int]
) -> list[Image.Image]:
    """The test clip: the camera over ``photo``, ``sprite`` (a disc) crossing in front."""
    pixels = np.asarray(photo.convert("RGB"))
    radius = size[1] // 6
    disc = sprite.convert("RGB").resize((2 * radius, 2 * radius), Image.Resampling.LANCZOS)
    alpha = Image.new("L", disc.size, 0)
    ImageDraw.Draw(alpha).ellipse((0, 0, 2 * radius - 1, 2 * radius - 1), fill=255)
    clip = []
    for i in range(frames):
        matrix = affine(photo.size, size, *camera(i, frames))
        background = cv2.warpAffine(pixels, matrix, size, flags=cv2.INTER_AREA)
        frame = Image.fromarray(background)
        t = i / max(1, frames - 1)
        x = round(-radius / 2 + t * (size[0] - radius))  # from the left edge to the right
        y = round(size[1] * 0.55 - radius)
        frame.paste(disc, (x, y), alpha)
        clip.append(frame)
    return clip


# --- the flow on a known motion -------------------------------------------------------------


def known_motion(photo: Image.Image, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Two frames of the camera a little apart, and the true flow from the first to the second."""
    pixels = np.asarray(photo.convert("RGB"))
    first = affine(photo.size, size, 1.0, 0.0, 0.0)
    second = affine(photo.size, size, 1.04, 0.02, 0.01)
    a = cv2.warpAffine(pixels, first, size, flags=cv2.INTER_AREA)
    b = cv2.warpAffine(pixels, second, size, flags=cv2.INTER_AREA)
    # A frame-a pixel p is photo point A1⁻¹ p, which frame b shows at A2 A1⁻¹ p.
    square = np.vstack([first, [0, 0, 1]])
    through = np.vstack([second, [0, 0, 1]]) @ np.linalg.inv(square)
    xs, ys = np.meshgrid(np.arange(size[0], dtype=np.float32), np.arange(size[1], dtype=np.float32))
    moved_x = through[0, 0] * xs + through[0, 1] * ys + through[0, 2]
    moved_y = through[1, 0] * xs + through[1, 1] * ys + through[1, 2]
    truth = np.stack([moved_x - xs, moved_y - ys], axis=2).astype(np.float32)
    return a, b, truth


def flow_quality(photo: Image.Image, size: tuple[int, int]) -> list[dict[str, float | str]]:
    a, b, truth = known_motion(photo, size)
    margin = 12  # pixels whose content leaves the frame have no true match
    rows: list[dict[str, float | str]] = []
    for method in METHODS:
        flow(a, b, method)  # warm up (OpenCV allocates on the first call)
        began = time.perf_counter()
        repeats = 5
        for _ in range(repeats):
            found = flow(a, b, method)
        milliseconds = 1000 * (time.perf_counter() - began) / repeats
        error = np.linalg.norm(found - truth, axis=2)[margin:-margin, margin:-margin]
        rows.append(
            {
                "method": method,
                "epe": float(error.mean()),
                "epe_p95": float(np.percentile(error, 95)),
                "motion": float(np.linalg.norm(truth, axis=2).mean()),
                "ms": milliseconds,
            }
        )
    return rows


# --- the measures ---------------------------------------------------------------------------


def timed(run: Callable[[], list[Image.Image]]) -> tuple[list[Image.Image], float, float]:
    began, cpu = time.perf_counter(), cpu_seconds()
    result = run()
    return result, time.perf_counter() - began, cpu_seconds() - cpu


def strip(rows: Sequence[Sequence[Image.Image]], columns: Sequence[int]) -> Image.Image:
    width, height = rows[0][0].size
    gap = 4
    sheet = Image.new(
        "RGB",
        (len(columns) * (width + gap) - gap, len(rows) * (height + gap) - gap),
        (255, 255, 255),
    )
    for r, row in enumerate(rows):
        for c, index in enumerate(columns):
            sheet.paste(row[index], (c * (width + gap), r * (height + gap)))
    return sheet


def sweep(
    model: VGG19Features,
    clip: Sequence[Image.Image],
    painting: Image.Image,
    params: TransferParams,
    *,
    later: int,
    weights: Sequence[float],
    method: str,
) -> None:
    """Ours at several temporal weights: steadiness against style and content distance."""
    print(
        "\n| temporal weight | warping error (DIS) | warping error (Farneback) | style dist. |"
        " content dist. | wall s |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for weight in weights:
        began = time.perf_counter()
        frames = stylize_video(
            model, clip, [painting], params, later_steps=later, temporal_weight=weight, flow=method
        )
        wall = time.perf_counter() - began
        styles = np.mean([style_distance(model, f, painting) for f in frames])
        contents = np.mean(
            [content_distance(model, f, c) for f, c in zip(frames, clip, strict=True)]
        )
        print(
            f"| {weight:g} | {warping_error(clip, frames, 'dis'):.5f} | "
            f"{warping_error(clip, frames, 'farneback'):.5f} | {styles:.4f} | {contents:.4f} | "
            f"{wall:.1f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="long side of the frames")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--temporal-weight", type=float, default=TEMPORAL_WEIGHT)
    parser.add_argument("--later-steps", type=int)
    parser.add_argument("--flow", choices=METHODS, default="dis")
    parser.add_argument("--photo", default="tubingen.jpg")
    parser.add_argument("--sprite", default="chelsea.png")
    parser.add_argument("--painting", default="starry_night.jpg")
    parser.add_argument(
        "--alone-frames",
        type=int,
        help="paint only the first N frames alone (default: all; 0 skips that run); both runs "
        "are compared on those frames",
    )
    parser.add_argument(
        "--sweep",
        type=float,
        nargs="+",
        metavar="WEIGHT",
        help="instead: ours at each temporal weight (the table behind TEMPORAL_WEIGHT)",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    images = shared_images()
    photo = Image.open(images / "content" / args.photo).convert("RGB")
    sprite = Image.open(images / "content" / args.sprite).convert("RGB")
    painting = Image.open(images / "styles" / args.painting).convert("RGB")
    size = (args.size, round(args.size * 3 / 4))
    clip = make_clip(photo, sprite, frames=args.frames, size=size)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), OpenCV "
        f"{cv2.__version__}, device {args.device}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"clip: {args.photo} with {args.sprite} crossing, {len(clip)} frames, {size}")

    print("\nflow on a known motion (pan + zoom), end-point error in pixels:")
    print("| method | mean EPE | 95th pct. | mean motion | ms per pair |")
    print("|---|---:|---:|---:|---:|")
    for row in flow_quality(photo, size):
        print(
            f"| {row['method']} | {row['epe']:.3f} | {row['epe_p95']:.3f} | "
            f"{row['motion']:.2f} | {row['ms']:.1f} |"
        )

    model: VGG19Features = load_vgg19(args.device)
    params = dataclasses.replace(
        params_from_options(device=args.device, preset=args.preset, seed=0), size=args.size
    )
    later = args.later_steps or default_later_steps(params)
    print(
        f"\nschedule: first frame {params.steps} ({params.total_steps} steps), later frames "
        f"{later}, temporal weight {args.temporal_weight}, {args.flow} flow"
    )
    if args.sweep:
        sweep(model, clip, painting, params, later=later, weights=args.sweep, method=args.flow)
        return 0
    frame_times: list[float] = []
    last = [time.perf_counter()]

    def on_frame(index: int, picture: Image.Image) -> None:
        del index, picture
        now = time.perf_counter()
        frame_times.append(now - last[0])
        last[0] = now

    def ours_run() -> list[Image.Image]:
        return stylize_video(
            model,
            clip,
            [painting],
            params,
            later_steps=later,
            temporal_weight=args.temporal_weight,
            flow=args.flow,
            on_frame=on_frame,
        )

    results = {"ours": timed(ours_run)}
    compared = len(clip) if args.alone_frames is None else min(args.alone_frames, len(clip))
    if compared:

        def alone_run() -> list[Image.Image]:
            return [
                stylize(frame, [painting], model=model, params=dataclasses.replace(params, seed=i))
                for i, frame in enumerate(clip[:compared])
            ]

        results["alone"] = timed(alone_run)

    print(
        f"\ncompared on frames 0-{compared - 1} ({compared - 1} pairs); ours also over all "
        f"{len(clip)} frames\n"
    )
    print(
        "| run | frames | warping error (DIS) | warping error (Farneback) | style dist. |"
        " content dist. | wall s | CPU s | wall s per frame |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("ours", results["ours"], len(clip))]
    if compared:
        rows = [("ours", results["ours"], compared), ("alone", results["alone"], compared), *rows]
    for name, (frames, wall, cpu), count in rows:
        shown, inputs = frames[:count], clip[:count]
        styles = np.mean([style_distance(model, f, painting) for f in shown])
        contents = np.mean(
            [content_distance(model, f, c) for f, c in zip(shown, inputs, strict=True)]
        )
        print(
            f"| {name} | {count} | {warping_error(inputs, shown, 'dis'):.5f} | "
            f"{warping_error(inputs, shown, 'farneback'):.5f} | {styles:.4f} | {contents:.4f} | "
            f"{wall:.1f} | {cpu:.1f} | {wall / len(frames):.2f} |"
        )
    print(
        f"| the input clip itself | {len(clip)} | {warping_error(clip, clip, 'dis'):.5f} | "
        f"{warping_error(clip, clip, 'farneback'):.5f} | | | | | |"
    )
    if frame_times:
        print(
            f"\nours: first frame {frame_times[0]:.1f} s, later frames "
            f"{np.mean(frame_times[1:]):.2f} s each (wall, flows included)"
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")

    OUT.mkdir(exist_ok=True)
    columns = sorted({0, len(clip) // 3, 2 * len(clip) // 3, len(clip) - 1})
    pictures = [clip, *[frames for frames, _, _ in results.values()]]
    strip(pictures, [c for c in columns if c < min(len(p) for p in pictures)]).save(
        OUT / "video-strip.png"
    )
    write_clip(clip, OUT / "video-input.mp4", fps=args.fps)
    for name, (frames, _, _) in results.items():
        write_clip(frames, OUT / f"video-{name}.mp4", fps=args.fps)
    print(f"\nwrote {OUT}/video-strip.png (rows: input, {', '.join(results)}) and the clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
