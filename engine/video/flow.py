"""Optical flow between frames, warping by it, and which pixels it can be trusted on.

Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016), section 3: each
stylized frame starts from the previous one moved along the flow, and is held to it where the
flow is reliable. The paper uses DeepFlow or EpicFlow; here OpenCV's DIS (Kroeger et al., ECCV
2016) or Farneback flow, which ship inside the OpenCV wheel (nothing is downloaded) and run in
milliseconds per frame on a CPU. The default is the one measured better on a known motion
(bench/video.py, docs/BENCHMARKS.md).

Conventions: a flow from ``a`` to ``b`` is an H x W x 2 float32 array of (dx, dy) such that the
pixel at (x, y) in ``a`` is at (x + dx, y + dy) in ``b``. Warping ``b`` by that flow gives a
picture aligned with ``a``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import cv2
import numpy as np
from PIL import Image

# OpenCV's type stubs lag its functions (DIS is missing; Farneback's flow may not be None).
_cv: Any = cv2

METHODS = ("dis", "farneback")
DEFAULT_METHOD = "dis"


def _grey(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"))
    array = np.asarray(image)
    if array.ndim == 3:
        return cv2.cvtColor(array.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    return array.astype(np.uint8)


def flow(
    a: Image.Image | np.ndarray, b: Image.Image | np.ndarray, method: str = DEFAULT_METHOD
) -> np.ndarray:
    """The optical flow from ``a`` to ``b`` (same size), H x W x 2 float32 in pixels."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    first, second = _grey(a), _grey(b)
    if first.shape != second.shape:
        raise ValueError(f"frames differ in size: {first.shape} and {second.shape}")
    if method == "dis":
        # MEDIUM: dense variational refinement on top of the patch search; FAST leaves blocks.
        dis = _cv.DISOpticalFlow_create(_cv.DISOPTICAL_FLOW_PRESET_MEDIUM)
        result = dis.calc(first, second, None)
    else:
        result = _cv.calcOpticalFlowFarneback(
            first,
            second,
            None,
            pyr_scale=0.5,
            levels=4,
            winsize=15,
            iterations=3,
            poly_n=5,
            poly_sigma=1.2,
            flags=0,
        )
    return np.ascontiguousarray(result, dtype=np.float32)


def _sample(array: np.ndarray, flow_field: np.ndarray) -> np.ndarray:
    """``array`` read at (x + dx, y + dy) for every pixel (x, y): bilinear, edges repeated."""
    height, width = flow_field.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = xs + flow_field[..., 0]
    map_y = ys + flow_field[..., 1]
    result: np.ndarray = cv2.remap(
        array, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return result


@overload
def warp(image: Image.Image, flow_field: np.ndarray) -> Image.Image: ...
@overload
def warp(image: np.ndarray, flow_field: np.ndarray) -> np.ndarray: ...
def warp(image: Image.Image | np.ndarray, flow_field: np.ndarray) -> Image.Image | np.ndarray:
    """``image`` (the later frame) moved back along ``flow_field`` (earlier -> later).

    Returns the same kind it was given: a PIL picture, or an array (H x W or H x W x C).
    """
    if isinstance(image, Image.Image):
        array = np.asarray(image.convert("RGB"))
        return Image.fromarray(_sample(array, flow_field))
    return _sample(np.asarray(image), flow_field)


def reliable_mask(
    forward: np.ndarray,
    backward: np.ndarray,
    *,
    consistency: float = 0.01,
    consistency_offset: float = 0.5,
    boundary: float = 0.01,
    boundary_offset: float = 0.002,
) -> np.ndarray:
    """Where the flow can be trusted: an H x W float32 of 1 (reliable) and 0.

    ``forward`` is the flow from frame i to frame i+1 and ``backward`` from i+1 to i; the mask
    is in frame i+1's coordinates (the frame being painted). Ruder et al., eqs. 3 and 4:

    - disocclusion: following the backward flow and then the forward flow should come back to
      the start; where it does not (by more than ``consistency`` times the motion plus
      ``consistency_offset``, in squared pixels) the pixel was hidden in frame i;
    - motion boundaries: where the backward flow's gradient is large (``boundary`` times the
      motion plus ``boundary_offset``) the flow is smeared over an edge and unreliable.

    The thresholds are the paper's.
    """
    # w~: the forward flow read where each pixel of frame i+1 came from in frame i.
    forward_there = _sample(forward, backward)
    round_trip = forward_there + backward
    squared = (round_trip**2).sum(axis=2)
    magnitude = (forward_there**2).sum(axis=2) + (backward**2).sum(axis=2)
    occluded = squared > consistency * magnitude + consistency_offset
    du_dy, du_dx = np.gradient(backward[..., 0])
    dv_dy, dv_dx = np.gradient(backward[..., 1])
    gradient = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
    edge = gradient > boundary * (backward**2).sum(axis=2) + boundary_offset
    return (~(occluded | edge)).astype(np.float32)


def warping_error(
    inputs: Sequence[Image.Image], painted: Sequence[Image.Image], method: str = DEFAULT_METHOD
) -> float:
    """How much a painted clip flickers: Ruder et al.'s temporal consistency measure.

    For each pair of consecutive frames, the painted frame i moved along the *input's* flow
    onto frame i+1, against the painted frame i+1: the mean squared difference (pixels in
    [0, 1]) over the pixels the flow marks reliable; then the mean over the pairs. 0 is a
    clip whose painting moves exactly with its content.
    """
    if len(inputs) != len(painted):
        raise ValueError(f"{len(inputs)} input frames but {len(painted)} painted ones")
    errors = []
    for i in range(len(inputs) - 1):
        forward = flow(inputs[i], inputs[i + 1], method)
        backward = flow(inputs[i + 1], inputs[i], method)
        mask = reliable_mask(forward, backward)[..., None]
        size = (backward.shape[1], backward.shape[0])
        before = np.asarray(painted[i].convert("RGB").resize(size), np.float64) / 255
        after = np.asarray(painted[i + 1].convert("RGB").resize(size), np.float64) / 255
        moved = _sample(before, backward)
        errors.append(float(((after - moved) ** 2 * mask).sum() / max(3 * mask.sum(), 1.0)))
    return float(np.mean(errors)) if errors else 0.0
