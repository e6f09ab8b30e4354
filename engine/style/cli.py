"""``python -m engine stylize``: repaint one photo, or a clip, from the command line, with a
progress bar.

A clip (an animated GIF, MP4, WebM, MOV, MKV) is painted frame by frame without flicker
(engine/style/video.py) into an MP4 with the clip's sound; a GIF of one frame is a photo.

Mistakes a person can make (a missing file, a bad option, a clip over the limits) end with one
``error: ...`` line on stderr and exit status 2; a failure of the machinery exits 1; Ctrl-C
exits 130.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from engine.contract import (
    DEFAULT_POSTER_SIZE,
    FRAME_SIDE,
    MAX_POSTER_SIZE,
    PRESET_NAMES,
    PhotoParams,
    frame_steps,
)
from engine.images import ImageError, open_image, save_image
from engine.style.cli_options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    device_and_params,
)
from engine.style.settings import StyleSettings

if TYPE_CHECKING:
    from PIL import Image

    from engine.style.transfer import Progress

logger = logging.getLogger(__name__)

PLOT_SUFFIXES = (".png", ".pdf", ".svg")
CLIP_SUFFIXES = (".gif", ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def build_parser(prog: str) -> argparse.ArgumentParser:
    defaults = PhotoParams()
    parser = _Parser(
        prog=prog,
        description="Repaint a photo in the style of one or more paintings (Gatys et al.).",
    )
    parser.add_argument("content", type=Path, help="the photo, or a clip (GIF, MP4, ...)")
    parser.add_argument("styles", type=Path, nargs="+", metavar="style", help="painting(s)")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="result, .jpg or .png (a clip: .mp4)"
    )
    parser.add_argument("--preset", choices=PRESET_NAMES, default=defaults.preset)
    parser.add_argument("--size", type=int, help="long side of the result (default: preset's)")
    parser.add_argument(
        "--strength", type=float, default=defaults.strength, help="style strength (1 = usual)"
    )
    parser.add_argument(
        "--style-scale",
        type=float,
        default=defaults.style_scale,
        help="size of the painting's strokes (1 = usual)",
    )
    parser.add_argument(
        "--style-weights",
        type=float,
        nargs="+",
        metavar="W",
        help="how much of each painting, in order (normalised to sum to 1)",
    )
    parser.add_argument("--keep-colors", action="store_true", help="keep the photo's colours")
    parser.add_argument("--seed", type=int, help="random seed, for repeatable results")
    parser.add_argument("--steps", type=int, help="total optimiser steps (default: preset's)")
    parser.add_argument("--optimizer", choices=("lbfgs", "adam"), help="default: lbfgs")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), help="default: ENGINE_DEVICE or auto"
    )
    parser.add_argument(
        "--weights", type=Path, help="full-precision VGG-19 state dict (default: VGG_WEIGHTS)"
    )
    parser.add_argument("--fp32", action="store_true", help="never use bf16 autocast")
    parser.add_argument(
        "--poster",
        action="store_true",
        help=f"a poster: --size up to {MAX_POSTER_SIZE} (default {DEFAULT_POSTER_SIZE}), the "
        "photo enlarged to it, painted in tiles within --max-memory",
    )
    parser.add_argument(
        "--max-memory",
        type=float,
        metavar="GIB",
        help="memory the run may take, GiB; a picture that needs more is painted in tiles "
        "(default: ENGINE_MAX_MEMORY, else 90%% of the GPU's free memory)",
    )
    parser.add_argument("--plot", type=Path, metavar="FILE", help="save a loss curve (.png)")
    parser.add_argument(
        "--save-every", type=int, metavar="N", help="save the picture every N steps beside -o"
    )
    parser.add_argument(
        "--timelapse",
        type=Path,
        metavar="OUT.mp4",
        help="also save a short film of the painting (H.264 MP4, the photo first, the result last)",
    )
    clips = parser.add_argument_group("clips")
    clips.add_argument(
        "--fps", type=float, help="frame rate to paint at, frames dropped evenly above it"
    )
    clips.add_argument("--max-seconds", type=float, help="refuse longer clips")
    clips.add_argument(
        "--later-steps", type=int, help="steps per frame after the first (default: a fifth)"
    )
    clips.add_argument("--flow", choices=("dis", "farneback"), default="dis", help="optical flow")
    return parser


def _check_writable(path: Path, what: str) -> None:
    """Fail before minutes of work, not after: the folder exists and takes a file."""
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder, not a file name")
    if not directory.is_dir():
        raise UsageError(f"{what} {path}: folder {directory} does not exist")
    # A real probe: os.access says yes to root and knows nothing of read-only file systems.
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise UsageError(
            f"{what} {path}: cannot write into {directory} ({e.strerror or e})"
        ) from None


def _is_clip(path: Path) -> bool:
    """Whether ``path`` is a clip to paint frame by frame: a video, or a GIF of 2+ frames."""
    suffix = path.suffix.lower()
    if suffix not in CLIP_SUFFIXES or not path.is_file():
        return False
    if suffix != ".gif":
        return True
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    except (OSError, UnidentifiedImageError):
        return True  # not a picture Pillow reads: the clip reader says what is wrong with it


def _check_clip_args(args: argparse.Namespace) -> None:
    if args.output.suffix.lower() != ".mp4":
        raise UsageError(f"output {args.output} must end in .mp4 for a clip")
    _check_writable(args.output, "output")
    for given, name in ((args.plot, "--plot"), (args.save_every, "--save-every")):
        if given is not None:
            raise UsageError(f"{name} is for photos, not clips")
    if args.timelapse is not None:
        raise UsageError("--timelapse is for photos, not clips")
    if args.poster or args.max_memory is not None:
        raise UsageError("--poster and --max-memory are for photos, not clips")
    if args.later_steps is not None and args.later_steps < 1:
        raise UsageError("--later-steps must be at least 1")


def _check_args(args: argparse.Namespace) -> None:
    if args.fps is not None or args.max_seconds is not None or args.later_steps is not None:
        raise UsageError("--fps, --max-seconds and --later-steps are for clips, not photos")
    if args.output.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        raise UsageError(f"output {args.output} must end in .jpg, .jpeg or .png")
    _check_writable(args.output, "output")
    if args.plot is not None:
        if args.plot.suffix.lower() not in PLOT_SUFFIXES:
            raise UsageError(f"plot {args.plot} must end in {', '.join(PLOT_SUFFIXES)}")
        _check_writable(args.plot, "plot")
    if args.style_weights is not None and len(args.style_weights) != len(args.styles):
        raise UsageError(
            f"--style-weights has {len(args.style_weights)} numbers for "
            f"{len(args.styles)} style image(s)"
        )
    if args.save_every is not None and args.save_every < 1:
        raise UsageError("--save-every must be at least 1")
    if args.max_memory is not None and not args.max_memory > 0:
        raise UsageError(f"--max-memory must be a positive number of GiB, got {args.max_memory}")
    if args.timelapse is not None:
        if args.timelapse.suffix.lower() != ".mp4":
            raise UsageError(f"time-lapse {args.timelapse} must end in .mp4")
        _check_writable(args.timelapse, "time-lapse")


def main(argv: list[str], *, prog: str, command: str) -> int:
    """Run ``python -m engine stylize``; returns the exit status."""
    del command  # one command lives here
    try:
        return _run(argv, prog)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(argv: list[str], prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if _is_clip(args.content):
        from engine.style.video_cli import run_clip

        _check_clip_args(args)
        return run_clip(args)
    _check_args(args)
    settings = StyleSettings.from_env()
    try:
        content = open_image(args.content)
        styles = [open_image(path) for path in args.styles]
    except ImageError as e:
        raise UsageError(str(e)) from None

    # torch loads only once the input is known to be good: mistakes are reported at once.

    from engine.style import tiled
    from engine.style.transfer import stylize
    from engine.style.vgg import WeightsError, load_vgg19

    device, params = device_and_params(args, settings)
    try:
        model = load_vgg19(device, weights_path=args.weights or settings.weights_path)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED

    max_gib = args.max_memory or settings.max_memory_gib
    max_memory = int(max_gib * 2**30) if max_gib else None
    tile: int | None = None
    if args.poster or max_memory is not None:
        if args.poster:
            content = tiled.enlarged(content, params.size)
        try:
            tile = tiled.tile_for(content.size, params, device=device, max_memory=max_memory)
        except tiled.BudgetTooSmall as e:
            raise UsageError(str(e)) from None

    bar = _ProgressBar(
        params.total_steps,
        save_every=args.save_every,
        output=args.output,
        timelapse=args.timelapse is not None,
    )
    started = time.perf_counter()
    try:
        if tile is not None:
            result = tiled.stylize_tiled(
                content,
                styles,
                model=model,
                params=params,
                tile=tile,
                style_weights=args.style_weights,
                callback=bar.update,
            )
        else:
            result = stylize(
                content,
                styles,
                model=model,
                params=params,
                style_weights=args.style_weights,
                callback=bar.update,
            )
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        bar.close()
        if args.plot is not None and bar.losses:
            _plot(bar, args.plot)
    try:
        save_image(result, args.output)
    except ImageError as e:
        raise UsageError(str(e)) from None
    if args.timelapse is not None:
        _save_film(args.timelapse, content, bar.frames, result)
    print(
        f"wrote {args.output} ({result.size[0]}x{result.size[1]}) in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return EXIT_OK


class _ProgressBar:
    """A tqdm bar fed by stylize's callback; also keeps the loss curve and saves snapshots."""

    def __init__(
        self, total: int, *, save_every: int | None, output: Path, timelapse: bool = False
    ) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)
        self._save_every = save_every
        self._output = output
        self.losses: list[tuple[int, float, int]] = []  # (step, loss, level)
        # The time-lapse's frames, at the steps a worker keeps them at too.
        self._frame_steps = frozenset(frame_steps(total)) if timelapse else frozenset()
        self.frames: list[Image.Image] = []

    def update(self, progress: Progress) -> None:
        self.losses.append((progress.step, progress.loss, progress.scale))
        self._bar.set_postfix_str(
            f"level {progress.scale}/{progress.scales} {progress.size[0]}x{progress.size[1]} "
            f"loss {progress.loss:.4g}",
            refresh=False,
        )
        self._bar.update(1)
        every = self._save_every
        if every and progress.snapshot is not None and progress.step % every == 0:
            path = self._output.with_name(
                f"{self._output.stem}.step{progress.step:05d}{self._output.suffix}"
            )
            save_image(progress.snapshot(), path)
        if progress.step in self._frame_steps and progress.snapshot is not None:
            frame = progress.snapshot()
            frame.thumbnail((FRAME_SIDE, FRAME_SIDE))
            self.frames.append(frame)

    def close(self) -> None:
        self._bar.close()


def _save_film(
    path: Path, photo: Image.Image, frames: list[Image.Image], result: Image.Image
) -> None:
    """The time-lapse, written atomically like the result."""
    from engine import timelapse

    first, last = photo.copy(), result.copy()
    first.thumbnail((FRAME_SIDE, FRAME_SIDE))
    last.thumbnail((FRAME_SIDE, FRAME_SIDE))
    data = timelapse.encode(first, frames, last)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as e:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"time-lapse {path}: cannot write it ({e.strerror or e})") from None
    print(f"wrote {path} ({len(frames)} frames, {len(data) // 1024} KB)", file=sys.stderr)


def _plot(bar: _ProgressBar, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    steps = [s for s, _, _ in bar.losses]
    losses = [loss for _, loss, _ in bar.losses]
    axes.plot(steps, losses, linewidth=1.2)
    for (step, _, level), (_, _, previous) in zip(bar.losses[1:], bar.losses, strict=False):
        if level != previous:
            axes.axvline(step - 0.5, color="grey", linestyle=":", linewidth=1)
    axes.set_yscale("log")
    axes.set_xlabel("step (dotted: next, finer level)")
    axes.set_ylabel("loss")
    axes.set_title("style transfer loss")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
