"""A clip repainted frame by frame without flicker: Ruder, Dosovitskiy & Brox, "Artistic style
transfer for videos" (GCPR 2016).

Painting every frame on its own flickers: the optimisation lands in a different minimum each
time, and strokes jump about even where nothing moves. Following the paper, each frame after
the first starts from the previous painted frame moved along the optical flow between the two
input frames, and its objective gains a temporal term holding it to that warped frame wherever
the flow is reliable (engine/style/temporal.py, engine/video/flow.py).

- The first frame gets the photo schedule (``params``, coarse to fine); later frames, starting
  from an almost finished picture, get one level at full size and far fewer steps
  (``later_steps``).
- The painting is analysed once per clip (``StyleTargets``), not once per frame.
- Departures from the paper: a later frame starts from the warped frame blended with the
  input frame itself (``WARPED_SHARE``, less where the flow is unreliable), so that the
  flow's small errors do not pile up frame after frame and blur the picture; no long-term
  term over several past frames and no multi-pass averaging (both cost a multiple of the
  time); the flow is OpenCV's, not DeepFlow.

Nothing here knows about the queue or Telegram: frames come in as pictures, progress and each
finished frame leave through callbacks, and a callback may raise ``Cancelled`` to stop.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from engine.style import color
from engine.style.temporal import TemporalLoss
from engine.style.transfer import Progress, StyleTargets, TransferParams, scale_sizes, stylize
from engine.style.vgg import VGG19Features
from engine.video import flow as optical_flow

logger = logging.getLogger(__name__)

# Relative to the content term (1) and the normalised style term (5 by default). Measured on
# bench/video.py's clip (docs/BENCHMARKS.md): the warped start does most of the work; from
# weight 0 to 1000 the warping error falls a further 6x (0.00077 to 0.00013) while the style
# distance rises by a fifth (0.228 to 0.279). 100 takes a third off the error for +4% style
# distance.
TEMPORAL_WEIGHT = 100.0
LATER_FRACTION = 0.2  # later frames get this share of the first frame's steps
# A later frame starts from the previous painted frame warped onto it, blended with the frame
# itself: this share of the warp where the flow is reliable, UNRELIABLE_SHARE where it is not
# (an uncovered background, a fast-moving face: the warp brings the wrong picture there). From
# the warp alone (1.0 everywhere), each frame inherits the last one's small misplacements and
# they add up: on bench/video.py's clip the structure figure (edges against the photo's) fell
# from 0.51 to 0.32 in ten frames; with 0.85 everywhere the edges held, but the moving face
# was a smear (0.02-0.22 on its disc). With these shares: 0.54-0.68 (frames painted alone:
# 0.47-0.57), the face 0.25-0.72 (alone: 0.23-0.58), and the warping error 19x below painting
# each frame alone (0.00088 against 0.01711; 0.00046 from the warp alone); 128 px, 10 frames
# (docs/BENCHMARKS.md). Where the flow is unreliable, a start from the frame alone (0) leaves
# it unpainted in 9 steps.
WARPED_SHARE = 0.85
UNRELIABLE_SHARE = 0.5


@dataclass(frozen=True)
class FrameProgress:
    """Where a running :func:`stylize_video` is; passed to ``on_progress`` after every step."""

    frame: int  # 0-based index of the frame being painted
    frames: int
    step: int  # steps of this frame done
    steps: int  # steps of this frame in all
    first_steps: int = 0  # the first frame's steps; with later_steps, weighs the fraction
    later_steps: int = 0
    elapsed: float = 0.0  # seconds since this run started
    eta: float = 0.0  # seconds left, from this run's pace
    # The frame as it stands (the live preview); costs a copy only when called.
    snapshot: Callable[[], Image.Image] | None = field(default=None, repr=False, compare=False)

    @property
    def fraction(self) -> float:
        """The share of the clip's work done, frames before this one counted whole."""
        first = self.first_steps or self.steps
        later = self.later_steps or self.steps
        total = first + later * (self.frames - 1)
        before = 0 if self.frame == 0 else first + later * (self.frame - 1)
        return min(1.0, (before + self.step) / total) if total else 1.0


def later_schedule(params: TransferParams, later_steps: int | None) -> TransferParams:
    """The parameters of every frame after the first: one level, at full size, few steps."""
    steps = later_steps if later_steps is not None else default_later_steps(params)
    if steps < 1:
        raise ValueError(f"later_steps must be at least 1, got {steps}")
    return dataclasses.replace(params, scales=1, steps=(steps,), init_noise=0.0, ema=0.0)


def default_later_steps(params: TransferParams) -> int:
    return max(1, round(params.total_steps * LATER_FRACTION))


def stylize_video(
    model: VGG19Features,
    frames: Sequence[Image.Image],
    styles: Sequence[Image.Image],
    params: TransferParams,
    *,
    later_steps: int | None = None,
    temporal_weight: float = TEMPORAL_WEIGHT,
    flow: str = optical_flow.DEFAULT_METHOD,
    style_weights: Sequence[float] | None = None,
    done: Mapping[int, Image.Image] | None = None,
    on_frame: Callable[[int, Image.Image], None] | None = None,
    on_progress: Callable[[FrameProgress], None] | None = None,
) -> list[Image.Image]:
    """Repaint every frame of a clip in the style of ``styles``; returns the painted frames.

    ``done`` holds frames an earlier run finished (index -> picture): they are kept as they
    are, and the frame after one starts from it, as it would have. ``on_frame(index, picture)``
    is called after each newly painted frame. ``on_progress`` gets a :class:`FrameProgress`
    after every optimiser step and may raise ``engine.style.transfer.Cancelled`` to stop.
    """
    if not frames:
        raise ValueError("stylize_video needs at least one frame")
    if temporal_weight < 0:
        raise ValueError(f"temporal_weight must be non-negative, got {temporal_weight}")
    if flow not in optical_flow.METHODS:
        raise ValueError(f"flow must be one of {optical_flow.METHODS}, got {flow!r}")
    done = done or {}
    later = later_schedule(params, later_steps)
    # One size for every frame, the photo schedule's finest: flows, warps and masks line up.
    size = scale_sizes(frames[0].size, params)[-1]
    inputs = [_sized(frame, size) for frame in frames]
    device = next(model.parameters()).device
    targets = StyleTargets()
    painted: list[Image.Image] = []
    start = time.perf_counter()
    work_left = sum(
        params.total_steps if i == 0 else later.total_steps
        for i in range(len(frames))
        if i not in done
    )
    work_done = 0
    logger.info(
        "stylize_video: %d frames at %dx%d, %d done already, steps %s then %d, %s flow",
        len(frames),
        size[0],
        size[1],
        len(done),
        params.steps,
        later.total_steps,
        flow,
    )

    for index, content in enumerate(inputs):
        if index in done:
            painted.append(_sized(done[index], size))
            continue
        frame_params = params if index == 0 else later
        previous_work = work_done

        def report(progress: Progress, index: int = index, before: int = previous_work) -> None:
            if on_progress is None:
                return
            elapsed = time.perf_counter() - start
            so_far = before + progress.step
            on_progress(
                FrameProgress(
                    frame=index,
                    frames=len(frames),
                    step=progress.step,
                    steps=progress.total,
                    first_steps=params.total_steps,
                    later_steps=later.total_steps,
                    elapsed=elapsed,
                    eta=elapsed * (work_left - so_far) / so_far if so_far else 0.0,
                    snapshot=progress.snapshot,
                )
            )

        begin: Image.Image | None = None  # the first frame: the photo schedule's own start
        temporal: TemporalLoss | None = None
        if index > 0:
            warped, mask, temporal = _temporal_term(
                previous_input=inputs[index - 1],
                current_input=content,
                previous_painted=painted[index - 1],
                method=flow,
                weight=temporal_weight,
                keep_colors=params.keep_colors,
                device=device,
            )
            begin = _start(content, warped, mask)
        picture = stylize(
            content,
            styles,
            model=model,
            params=frame_params,
            style_weights=style_weights,
            callback=report,
            start_image=begin,
            extra_loss=temporal if temporal_weight > 0 else None,
            targets=targets,
        )
        work_done += frame_params.total_steps
        painted.append(picture)
        if on_frame is not None:
            on_frame(index, picture)
    logger.info("stylize_video: %d frames in %.1f s", len(frames), time.perf_counter() - start)
    return painted


def _sized(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    picture = picture.convert("RGB")
    if picture.size == size:
        return picture
    return picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _temporal_term(
    *,
    previous_input: Image.Image,
    current_input: Image.Image,
    previous_painted: Image.Image,
    method: str,
    weight: float,
    keep_colors: bool,
    device: torch.device,
) -> tuple[Image.Image, np.ndarray, TemporalLoss]:
    """The previous painted frame warped onto this one, where that warp is reliable (1) and
    not (0), and the loss holding this frame to it there."""
    forward = optical_flow.flow(previous_input, current_input, method)
    backward = optical_flow.flow(current_input, previous_input, method)
    warped = optical_flow.warp(previous_painted, backward)
    mask = optical_flow.reliable_mask(forward, backward)
    target = pil_to_tensor(warped).float().div(255).unsqueeze(0).to(device)
    if keep_colors:  # the optimisation runs on luminance; the colours come back at the end
        target = color.luminance(target)
    logger.debug("frame warp: %.0f%% of pixels reliable", 100 * float(mask.mean()))
    return warped, mask, TemporalLoss(target, torch.from_numpy(mask), weight=weight)


def _start(frame: Image.Image, warped: Image.Image, mask: np.ndarray) -> Image.Image:
    """A later frame's starting picture: the warp blended with the frame itself, more of the
    warp where it is reliable (``WARPED_SHARE``) than where it is not (``UNRELIABLE_SHARE``)."""
    share = (UNRELIABLE_SHARE + (WARPED_SHARE - UNRELIABLE_SHARE) * mask)[..., None]
    start = np.asarray(frame, np.float32) * (1 - share) + np.asarray(warped, np.float32) * share
    return Image.fromarray(start.round().clip(0, 255).astype(np.uint8))
