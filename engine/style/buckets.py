"""Size buckets: picture shapes rounded to a few, so that work done per shape is reused.

A GPU worker pays for every picture shape it meets for the first time: cuDNN times its
algorithms for each new input shape (``torch.backends.cudnn.benchmark``), ``torch.compile``
compiles per shape, a CUDA graph is captured per shape. Photos come in every shape, so without
buckets nearly every job pays. With them, a level is optimised at its bucket's shape (the photo
stretched a little to it) and the result is resized back to the photo's own shape at the end;
jobs whose levels share buckets can also run in one batch (engine/style/batch.py).

The mapping, for a level of (width, height):

- The long side is rounded to the nearest multiple of :data:`LONG_STEP` (32 px). The presets'
  sizes (384, 512, 768, 1024, 2048, and half, quarter... of them for the coarse levels) are
  multiples already, so only photos smaller than the preset move.
- The aspect ratio (long side / short side) is rounded, in log space, to the nearest rung of
  :data:`RATIOS`: 1, 1.1, 1.1², ... up to 1.1¹² ≈ 3.14. Neighbouring rungs are 10% apart, so
  the picture is stretched by at most 5% one way. A ratio beyond the last rung (a panorama) is
  kept as it is.
- The short side is then long / ratio, rounded to a multiple of :data:`SHORT_STEP` (16 px:
  VGG-19 halves a picture four times before relu5_1), and at least 16.
- Portrait stays portrait: the long side is the height when it was.

So at one long side there are at most 25 shapes (13 rungs, two orientations, the square once)
and a preset's whole schedule meets the same few shapes job after job.
"""

from __future__ import annotations

import math

LONG_STEP = 32  # the long side is a multiple of this
SHORT_STEP = 16  # the short side is a multiple of this
RATIO_STEP = 1.1  # neighbouring aspect ratios differ by this factor
RATIOS: tuple[float, ...] = tuple(RATIO_STEP**k for k in range(13))  # 1 ... 3.14
MIN_SIDE = 16  # as engine.style.transfer.MIN_SIDE: relu5_1 needs 16 px


def _round_to(value: float, step: int) -> int:
    return max(step, math.floor(value / step + 0.5) * step)  # halves round up


def ratio_bucket(ratio: float) -> float | None:
    """The rung of :data:`RATIOS` nearest ``ratio`` (>= 1) in log space; None beyond them."""
    if ratio < 1:
        raise ValueError(f"the ratio is long side over short side (>= 1), got {ratio}")
    if ratio > RATIOS[-1] * math.sqrt(RATIO_STEP):
        return None
    return min(RATIOS, key=lambda rung: abs(math.log(ratio / rung)))


def bucket(size: tuple[int, int]) -> tuple[int, int]:
    """The bucket of a (width, height) shape, as (width, height); see the module's doc."""
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"a picture has a positive size, got {size}")
    long_side, short_side = max(width, height), min(width, height)
    rounded_long = _round_to(long_side, LONG_STEP)
    rung = ratio_bucket(long_side / short_side)
    ratio = rung if rung is not None else long_side / short_side
    rounded_short = min(rounded_long, max(MIN_SIDE, _round_to(rounded_long / ratio, SHORT_STEP)))
    return (rounded_long, rounded_short) if width >= height else (rounded_short, rounded_long)


def stretch(size: tuple[int, int]) -> float:
    """How much :func:`bucket` distorts a shape: the ratio of its aspect ratios, >= 1."""
    width, height = size
    bucket_width, bucket_height = bucket(size)
    change = (bucket_width / bucket_height) / (width / height)
    return max(change, 1 / change)
