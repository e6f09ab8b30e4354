"""Where the tiles of a tiled optimisation lie: overlapping squares that cover the picture.

A picture too large for the GPU's memory is optimised a tile at a time (engine/style/tiled.py).
Two things keep the tiles from showing in the result:

- The grid moves every step. Each step draws a random shift of the whole grid, so a tile
  border that sits at one column now sits elsewhere at the next step; no seam stays in one
  place long enough to be painted in. (The idea of jittered tiles is crowsonkb's
  style-transfer-pytorch's; the layout here is our own.)
- The tiles overlap, and each pixel's gradient is a blend of the tiles that cover it: every
  tile has a window that falls off towards its edges, and the windows are divided by their
  sum, so at every pixel the blend weights add up to exactly one (a partition of unity).

Every tile has the same size, whatever the shift (tiles at the picture's edges are moved
inwards rather than cut), so the network sees one input shape per level and cuDNN's choice of
algorithms for it is reused step after step.

Pure arithmetic on index ranges and small weight maps: no network, no device choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MIN_TILE = 32  # VGG-19's relu5_1 is 1/16 of the input: a tile needs room for a few cells


@dataclass(frozen=True)
class Tile:
    """One tile: rows ``top:top + height`` and columns ``left:left + width`` of the picture."""

    top: int
    left: int
    height: int
    width: int

    @property
    def rows(self) -> slice:
        return slice(self.top, self.top + self.height)

    @property
    def columns(self) -> slice:
        return slice(self.left, self.left + self.width)


def axis_starts(length: int, tile: int, overlap: int, shift: float) -> list[int]:
    """Starts of the tiles along one axis of ``length`` pixels, for a grid shifted by
    ``shift`` (a fraction in [0, 1) of the grid's stride).

    The nominal grid has a stride of at most ``tile - overlap``, so neighbours overlap by at
    least ``overlap``; it starts ``shift`` strides before the picture and gets one tile more
    than an unshifted grid needs, so the shifted grid still reaches the far edge. Tiles that
    would stick out are moved inwards to the edge (and duplicates dropped), which keeps every
    tile the same size.
    """
    if tile >= length:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, {tile}), got {overlap}")
    if not 0 <= shift < 1:
        raise ValueError(f"shift must be in [0, 1), got {shift}")
    count = math.ceil((length - overlap) / (tile - overlap))  # tiles an unshifted grid needs
    stride = (length - tile) / (count - 1) if count > 1 else 0.0
    starts: list[int] = []
    for i in range(count + 1):
        start = min(max(round((i - shift) * stride), 0), length - tile)
        if not starts or start != starts[-1]:
            starts.append(start)
    return starts


def layout(
    size: tuple[int, int],
    *,
    tile: int,
    overlap: int,
    generator: torch.Generator | None = None,
) -> list[Tile]:
    """The tiles for one step over a picture of ``size`` = (width, height).

    With a ``generator`` the grid is shifted by a random fraction of its stride on each axis
    (a new draw on every call: call once per step); without one it is not shifted.
    """
    if tile < MIN_TILE:
        raise ValueError(f"tiles must be at least {MIN_TILE} pixels, got {tile}")
    width, height = size
    if generator is None:
        shift_x = shift_y = 0.0
    else:
        shift_x, shift_y = (float(v) for v in torch.rand(2, generator=generator))
    rows = axis_starts(height, tile, overlap, shift_y)
    columns = axis_starts(width, tile, overlap, shift_x)
    tile_h, tile_w = min(tile, height), min(tile, width)
    return [Tile(top, left, tile_h, tile_w) for top in rows for left in columns]


def window(height: int, width: int, *, ramp: int) -> torch.Tensor:
    """A (height, width) weight map: 1 in the middle, falling linearly over ``ramp`` pixels
    towards each edge, never to zero (so a pixel only one tile covers still gets its
    gradient; divided by the sum of the windows it is then 1)."""
    def profile(n: int) -> torch.Tensor:
        i = torch.arange(n, dtype=torch.float32)
        distance = torch.minimum(i + 1, n - i)  # 1 at either edge
        return (distance / max(ramp, 1)).clamp(max=1.0)

    return profile(height)[:, None] * profile(width)[None, :]


def blend_weights(
    tiles: list[Tile], size: tuple[int, int], *, ramp: int, device: torch.device | None = None
) -> list[torch.Tensor]:
    """Each tile's (1, 1, h, w) share of its pixels' gradient; at every pixel the shares of
    the tiles covering it add up to one. Raises ValueError if a pixel is left uncovered."""
    width, height = size
    total = torch.zeros(height, width, device=device)
    windows = []
    for t in tiles:
        w = window(t.height, t.width, ramp=ramp).to(device)
        total[t.rows, t.columns] += w
        windows.append(w)
    if bool((total <= 0).any()):
        raise ValueError("the tiles leave some pixels uncovered")
    return [(w / total[t.rows, t.columns])[None, None] for t, w in zip(tiles, windows, strict=True)]


def borders(layout: list[Tile], size: tuple[int, int]) -> tuple[list[int], list[int]]:
    """The columns and rows where a tile of ``layout`` begins or ends inside the picture
    (index i: the border between pixel i - 1 and pixel i)."""
    width, height = size
    columns = {edge for t in layout for edge in (t.left, t.left + t.width)}
    rows = {edge for t in layout for edge in (t.top, t.top + t.height)}
    return sorted(c for c in columns if 0 < c < width), sorted(r for r in rows if 0 < r < height)


def seam_figure(image: torch.Tensor, *, columns: list[int], rows: list[int]) -> float:
    """How much a picture (1, 3, H, W) changes across the given borders, against everywhere
    else: the mean squared step between neighbouring pixels across the borders, over the mean
    across all other pixel boundaries; the larger of the two directions. About 1: no seam
    there; a tile edge the optimisation painted in shows as a step, and a figure above 1."""
    image = image.detach().float()
    figures = []
    for axis, edges in ((-1, columns), (-2, rows)):
        if not edges:
            continue
        steps = image.diff(dim=axis).pow(2).mean(dim=(0, 1))  # (H, W - 1) or (H - 1, W)
        per_boundary = steps.mean(dim=0) if axis == -1 else steps.mean(dim=1)
        chosen = torch.zeros_like(per_boundary, dtype=torch.bool)
        chosen[torch.tensor(edges) - 1] = True  # boundary i - 1 lies between pixels i-1 and i
        elsewhere = per_boundary[~chosen].mean()
        figures.append(float(per_boundary[chosen].mean() / elsewhere.clamp_min(1e-12)))
    return max(figures, default=1.0)
