"""``python -m engine stylize CLIP PAINTING -o OUT.mp4``: a clip painted frame by frame.

The photo command's options mean the same here (engine/style/cli.py parses them); ``--fps``
and ``--max-seconds`` tighten or loosen this machine's clip limits (engine/video/limits.py),
``--later-steps`` sets the steps of every frame after the first. A clip over the limits is
refused with the sentence that names the limit, before the network is loaded.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import TYPE_CHECKING

from engine.images import ImageError, open_image
from engine.style.cli_options import EXIT_FAILED, EXIT_OK, UsageError, device_and_params
from engine.style.settings import StyleSettings
from engine.video.limits import ClipLimits, ClipRejected, limits_for

if TYPE_CHECKING:
    from engine.style.video import FrameProgress


def clip_limits(args: argparse.Namespace, device: str) -> ClipLimits:
    """This device's limits, with --fps, --max-seconds and --size as given."""
    limits = limits_for(device)
    max_fps = args.fps if args.fps is not None else limits.max_fps
    max_seconds = limits.max_seconds
    max_frames = limits.max_frames
    if args.max_seconds is not None:
        max_seconds = args.max_seconds
        # A longer clip at the same rate: the frame limit follows, or it would refuse it anyway.
        max_frames = max(max_frames, round(max_seconds * max_fps) + 1)
    max_side = args.size if args.size is not None else limits.max_side
    try:
        return ClipLimits(
            max_seconds=max_seconds,
            max_fps=max_fps,
            max_frames=max_frames,
            max_side=max_side,
            max_input_side=max(limits.max_input_side, max_side),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None


def run_clip(args: argparse.Namespace) -> int:
    """Paint the clip ``args.content``; returns the exit status."""
    from engine.video.clip import read_clip, write_clip

    settings = StyleSettings.from_env()
    try:
        styles = [open_image(path) for path in args.styles]
    except ImageError as e:
        raise UsageError(str(e)) from None
    device, params = device_and_params(args, settings)
    limits = clip_limits(args, device.type)
    try:
        clip = read_clip(args.content, limits=limits, max_side=args.size or limits.max_side)
    except ClipRejected as e:
        raise UsageError(str(e)) from None
    except FileNotFoundError:
        raise UsageError(f"{args.content}: no such file") from None
    # The clip was scaled to the limit's side; the schedule paints at that size, not larger.
    params = dataclasses.replace(params, size=min(params.size, max(clip.frames[0].size)))

    from engine.style.vgg import WeightsError, load_vgg19
    from engine.style.video import stylize_video

    try:
        model = load_vgg19(device, weights_path=args.weights or settings.weights_path)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    bar = _FrameBar(len(clip.frames))
    started = time.perf_counter()
    try:
        painted = stylize_video(
            model,
            clip.frames,
            styles,
            params,
            later_steps=args.later_steps,
            flow=args.flow,
            style_weights=args.style_weights,
            on_frame=bar.frame_done,
            on_progress=bar.update,
        )
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        bar.close()
    write_clip(painted, args.output, fps=clip.fps, audio_from=args.content)
    width, height = painted[0].size
    print(
        f"wrote {args.output} ({len(painted)} frames at {clip.fps:.3g} fps, {width}x{height}) "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return EXIT_OK


class _FrameBar:
    """A tqdm bar over frames, its postfix the step within the frame being painted."""

    def __init__(self, frames: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=frames, unit="frame", dynamic_ncols=True, file=sys.stderr)

    def update(self, progress: FrameProgress) -> None:
        self._bar.set_postfix_str(
            f"frame {progress.frame + 1} step {progress.step}/{progress.steps}", refresh=False
        )
        self._bar.refresh()

    def frame_done(self, index: int, picture: object) -> None:
        del index, picture
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()
