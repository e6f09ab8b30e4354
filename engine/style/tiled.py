"""Tiled optimisation: pictures larger than the device's memory (posters), a tile at a time.

:func:`stylize` keeps the whole picture's VGG-19 activations for the backward pass: about
1.7 KB a pixel under bf16, 28 GB at 4096x4096 before L-BFGS's history (another 1.2 KB a
pixel). :func:`stylize_tiled` keeps only one tile's:

- The coarse levels that fit in one tile run untiled, through :func:`stylize` itself.
- At each larger level the style targets (Gram matrices) are computed once, from the painting
  at the level's scale, tile by tile (a Gram matrix is a sum over positions, so the painting's
  is the position-weighted mean of its tiles').
- Each step lays overlapping tiles over the picture, shifted at random (engine/style/tiles.py);
  each tile is run through the network on its own, its loss (content against the photo's same
  tile, style against the painting's whole Gram, total variation) back-propagated at once, and
  its gradient, blended by the tile's window, accumulated into the whole picture's. One
  optimiser step on the whole picture follows.
- The optimiser at tiled levels is Adam whatever ``params.optimizer`` says: L-BFGS keeps 2 x
  ``lbfgs_history`` picture-sized vectors (100 x 200 MB at 4096 px), and its curvature pairs
  assume one objective, where the shifting tiles make every step's objective a little
  different. Adam's two moments cost two pictures; crowsonkb's style-transfer-pytorch also
  optimises with Adam.

Per tile, a pixel's style is judged against the painting's whole Gram matrix, which asks each
tile to look like the painting (a little stronger than Gatys et al.'s one Gram for the whole
picture); the shifting tiles keep that from drawing a grid.

:func:`choose_tile` turns a memory budget (``--max-memory``, or the device's free memory) into
a tile: of those whose estimated run fits (:func:`tiled_memory`), the one with the least work
per step (:func:`step_work`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from PIL import Image

from engine.style import color, tiles
from engine.style.losses import ContentLoss, StyleLoss, TotalVariationLoss, gram_matrix
from engine.style.transfer import (
    Cancelled,
    Progress,
    TransferParams,
    network_memory_format,
    normalised_weights,
    picture_of,
    scale_sizes,
    style_size,
    stylize,
    tensor_of,
    use_bf16,
)
from engine.style.vgg import VGG19Features

logger = logging.getLogger(__name__)

# Elements per input pixel that autograd keeps for the backward pass of VGG-19 up to relu5_1:
# each conv's output (its ReLU works in place) and each pool's, summed over the layers at
# their resolutions (64*2 + 64/4 + 128*2/4 + 128/16 + 256*4/16 + 256/64 + 512*4/64 + 512/256
# + 512/256 = 320).
ACTIVATIONS_PER_PIXEL = 320
# fp32 copies of the style layers' features that the Gram matrices read (losses.py), per
# pixel: 64 + 128/4 + 256/16 + 512/64 + 512/256.
GRAM_ELEMENTS_PER_PIXEL = 122
# The backward pass's own buffers (the gradient of the widest layers, cuDNN's workspaces) and
# the allocator's slack, as a factor on the above: measured peaks on a GPU belong in
# docs/BENCHMARKS.md (bench_engine.py --poster prints estimate and peak side by side).
WORKSPACE_FACTOR = 1.5
# Whole-picture tensors a tiled run keeps (fp32, 3 channels): the picture, its gradient,
# Adam's two moments, the photo, its luminance or colour copy, the blend sum and a spare.
PICTURE_COPIES = 8
MODEL_BYTES = 80 * 2**20  # VGG-19's conv weights up to relu5_1 (fp32), with a bf16 copy
TILE_MULTIPLE = 32  # tile sides are multiples of this (VGG-19 halves the size four times)
# What one tile costs beyond its pixels, in pixels' worth: the launches and the Python around a
# forward and backward pass. A 512 px picture is launch-bound on a large GPU (issue #16), so
# 512 x 512; a first figure, to be measured (bench_engine.py --sections poster).
TILE_OVERHEAD_PIXELS = 512 * 512


class BudgetTooSmall(ValueError):
    """Not even the smallest tile fits the memory budget; the message says how much it needs."""


def network_memory(pixels: int, *, bf16: bool) -> int:
    """Bytes one forward and backward pass through VGG-19 needs for an input of ``pixels``."""
    per_pixel = ACTIVATIONS_PER_PIXEL * (2 if bf16 else 4) + GRAM_ELEMENTS_PER_PIXEL * 4
    return int(pixels * per_pixel * WORKSPACE_FACTOR)


def picture_memory(size: tuple[int, int]) -> int:
    """Bytes of the whole-picture tensors a tiled run keeps, for ``size`` = (width, height)."""
    return size[0] * size[1] * 3 * 4 * PICTURE_COPIES


def tiled_memory(size: tuple[int, int], tile: int, *, bf16: bool) -> int:
    """The estimated peak of a tiled run over ``size`` in tiles of side ``tile``."""
    tile_pixels = min(tile, size[0]) * min(tile, size[1])
    return MODEL_BYTES + picture_memory(size) + network_memory(tile_pixels, bf16=bf16)


def whole_memory(size: tuple[int, int], *, bf16: bool, history: int) -> int:
    """The estimated peak of an untiled run (:func:`stylize`, L-BFGS with ``history`` pairs
    of picture-sized vectors; 0 for Adam, which keeps two)."""
    vectors = 2 * history if history else 2
    pixels = size[0] * size[1]
    return MODEL_BYTES + network_memory(pixels, bf16=bf16) + pixels * 3 * 4 * (vectors + 4)


def choose_tile(
    size: tuple[int, int], *, budget: int, bf16: bool, history: int = 50
) -> int:
    """The tile side for a picture of ``size`` within ``budget`` bytes: the picture's long side
    when an untiled run (L-BFGS with ``history``) fits; else, of the tile sides (multiples of
    32) whose tiled run fits, the one with the least work per step (:func:`step_work`), the
    larger on a tie. BudgetTooSmall when not even the smallest tile fits."""
    long_side = max(size)
    if whole_memory(size, bf16=bf16, history=history) <= budget:
        return long_side
    # A tile as long as the picture would be the untiled run, which did not fit.
    fitting = [
        tile
        for tile in range(tiles.MIN_TILE, long_side, TILE_MULTIPLE)
        if tiled_memory(size, tile, bf16=bf16) <= budget
    ]
    if not fitting:
        need = tiled_memory(size, tiles.MIN_TILE, bf16=bf16)
        raise BudgetTooSmall(
            f"a {size[0]}x{size[1]} picture needs at least {need / 2**30:.2f} GiB even in "
            f"{tiles.MIN_TILE} px tiles; the budget is {budget / 2**30:.2f} GiB"
        )
    return min(fitting, key=lambda tile: (step_work(size, tile), -tile))


def step_work(size: tuple[int, int], tile: int) -> int:
    """The work of one tiled step, in pixels' worth: each tile of a typical (half-shifted)
    layout costs its pixels and :data:`TILE_OVERHEAD_PIXELS`. The largest tile that fits is
    not always the cheapest: a 4064 px tile over a 4096 px picture needs three tiles a row
    where 3072 px ones need three too, each smaller."""
    overlap = default_overlap(tile)
    columns = len(tiles.axis_starts(size[0], tile, overlap, 0.5))
    rows = len(tiles.axis_starts(size[1], tile, overlap, 0.5))
    pixels = min(tile, size[0]) * min(tile, size[1])
    return columns * rows * (pixels + TILE_OVERHEAD_PIXELS)


def free_memory(device: torch.device) -> int:
    """Bytes a run on ``device`` may take by default: 90% of a GPU's free memory, half of the
    machine's available memory for the CPU (the bot and the database share it)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.9)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 4 * 2**30  # a guess a small machine survives


def stylize_poster(
    content: Image.Image,
    styles: Sequence[Image.Image],
    *,
    model: VGG19Features,
    params: TransferParams,
    max_memory: int | None = None,
    style_weights: Sequence[float] | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
) -> Image.Image:
    """A poster: the photo enlarged to ``params.size`` (Lanczos; a photo is seldom as large
    as a poster), painted in the tiles :func:`choose_tile` picks for ``max_memory`` bytes
    (None: the device's free memory, :func:`free_memory`)."""
    device = next(model.parameters()).device
    content = enlarged(content, params.size)
    tile = tile_for(content.size, params, device=device, max_memory=max_memory)
    return stylize_tiled(content, styles, model=model, params=params, tile=tile,
                         style_weights=style_weights, callback=callback)


def enlarged(photo: Image.Image, size: int) -> Image.Image:
    """The photo with its long side enlarged to ``size`` (Lanczos); as it is if larger."""
    factor = size / max(photo.size)
    if factor <= 1:
        return photo
    return photo.resize(
        (round(photo.width * factor), round(photo.height * factor)), Image.Resampling.LANCZOS
    )


def tile_for(
    content_size: tuple[int, int],
    params: TransferParams,
    *,
    device: torch.device,
    max_memory: int | None = None,
) -> int:
    """The tile side for painting a photo of ``content_size`` with ``params`` within
    ``max_memory`` bytes (None: :func:`free_memory`); the long side when no tiling is needed."""
    final = scale_sizes(content_size, params)[-1]
    budget = free_memory(device) if max_memory is None else max_memory
    bf16 = use_bf16(device, params.precision)
    history = params.lbfgs_history if params.optimizer == "lbfgs" else 0
    tile = choose_tile(final, budget=budget, bf16=bf16, history=history)
    if tile < max(final):
        logger.info(
            "%dx%d in %d px tiles: estimated peak %.1f GiB of a %.1f GiB budget",
            final[0], final[1], tile, tiled_memory(final, tile, bf16=bf16) / 2**30,
            budget / 2**30,
        )
    return tile


def default_overlap(tile: int) -> int:
    """A quarter of the tile: enough for the blend windows to hide VGG-19's zero padding at a
    tile's edge (its deep layers see a few tens of pixels past it)."""
    return max(8, tile // 4)


def stylize_tiled(
    content: Image.Image,
    styles: Sequence[Image.Image],
    *,
    model: VGG19Features,
    params: TransferParams,
    tile: int,
    overlap: int | None = None,
    style_weights: Sequence[float] | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
) -> Image.Image:
    """:func:`~engine.style.transfer.stylize`, with levels larger than ``tile`` optimised in
    overlapping tiles of side ``tile``; the same arguments, callback and Cancelled.

    At tiled levels ``params.ema`` is not applied (no average of the iterates is kept, to
    keep the memory of one picture copy), and a first level that is tiled starts from the
    photo (``start="feedforward"`` needs a whole first level)."""
    if params.style_loss != "gram":
        raise ValueError("tiled optimisation supports the Gram style loss only")
    if tile < tiles.MIN_TILE:
        raise ValueError(f"tiles must be at least {tiles.MIN_TILE} pixels, got {tile}")
    overlap = default_overlap(tile) if overlap is None else overlap
    weights = normalised_weights(len(styles), style_weights)
    seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**63)
    params = dataclasses.replace(params, seed=seed)
    sizes = scale_sizes(content.size, params)
    whole = sum(1 for size in sizes if max(size) <= tile)  # coarse levels that fit one tile
    clock = _Clock(sizes, params.steps)

    def report(p: Progress) -> bool | None:
        return None if callback is None else callback(clock.progress(p))

    image: torch.Tensor | None = None
    device = next(model.parameters()).device
    if whole and sum(params.steps[:whole]):
        first = dataclasses.replace(
            params, size=max(sizes[whole - 1]), scales=whole, steps=params.steps[:whole]
        )
        picture = stylize(content, styles, model=model, params=first, style_weights=weights,
                          callback=report)
        image = tensor_of(picture, picture.size, device)
        if params.keep_colors:
            image = color.luminance(image)
    if whole == len(sizes):
        assert image is not None  # params have at least one step
        return picture_of(image, tensor_of(content, sizes[-1], device), params.keep_colors)

    generator = torch.Generator().manual_seed(seed)
    run = _TiledRun(model, params, weights, tile=tile, overlap=overlap, generator=generator)
    content_t = torch.empty(0)
    for level in range(whole, len(sizes)):
        content_t, image = run.level(
            content, styles, image, level=level, size=sizes[level], report=report, clock=clock
        )
    assert image is not None  # at least one tiled level ran
    return picture_of(image, content_t, params.keep_colors)


class _Clock:
    """Steps and the ETA over the whole schedule, whichever part (untiled or tiled) runs."""

    def __init__(self, sizes: Sequence[tuple[int, int]], steps: Sequence[int]) -> None:
        self.started = time.perf_counter()
        self.total = sum(steps)
        # A step costs about as much as its level's pixel count.
        self.work = [w * h for w, h in sizes]
        self.steps = list(steps)

    def progress(self, p: Progress) -> Progress:
        """``p`` (with its step counted from the start of the schedule) on the whole run's
        total and clock."""
        elapsed = time.perf_counter() - self.started
        done, left = 0.0, 0.0
        counted = 0
        for level_steps, work in zip(self.steps, self.work, strict=True):
            here = min(max(p.step - counted, 0), level_steps)
            done += here * work
            left += (level_steps - here) * work
            counted += level_steps
        eta = elapsed * left / done if done else 0.0
        return dataclasses.replace(p, total=self.total, scales=len(self.steps),
                                   elapsed=elapsed, eta=eta)


class _TiledRun:
    """The levels of one :func:`stylize_tiled` run that are larger than a tile."""

    def __init__(
        self,
        model: VGG19Features,
        params: TransferParams,
        weights: Sequence[float],
        *,
        tile: int,
        overlap: int,
        generator: torch.Generator,
    ) -> None:
        self.model = model
        self.params = params
        self.weights = weights
        self.tile = tile
        self.overlap = overlap
        self.generator = generator
        self.device = next(model.parameters()).device
        self.bf16 = use_bf16(self.device, params.precision)
        self.memory_format = network_memory_format(self.device)
        self.content_layers = dict(params.content_layers)
        self.tv = TotalVariationLoss()
        self.step = 0  # over the whole schedule, the untiled levels' steps included

    def autocast(self) -> AbstractContextManager[object]:
        if not self.bf16:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def features(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        with self.autocast():
            out: dict[str, torch.Tensor] = self.model(
                image.contiguous(memory_format=self.memory_format), layers
            )
            return out

    @torch.no_grad()
    def grams(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The style layers' Gram matrices of ``image``, tile by tile (no overlap, no shift):
        each tile's Gram weighted by its positions, which is the whole picture's Gram but for
        the network's zero padding at the tile edges."""
        size = (image.shape[-1], image.shape[-2])
        sums: dict[str, torch.Tensor] = {}
        positions: dict[str, int] = {}
        for t in tiles.layout(size, tile=self.tile, overlap=0):
            found = self.features(image[..., t.rows, t.columns], self.params.style_layers)
            for name, f in found.items():
                cells = f.shape[-1] * f.shape[-2]
                g = gram_matrix(f) * cells
                sums[name] = sums[name] + g if name in sums else g
                positions[name] = positions.get(name, 0) + cells
        return {name: sums[name] / positions[name] for name in sums}

    def level(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        previous: torch.Tensor | None,
        *,
        level: int,
        size: tuple[int, int],
        report: Callable[[Progress], bool | None],
        clock: _Clock,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One level, optimised in tiles; returns the photo and the result at ``size``."""
        params = self.params
        self.step = sum(params.steps[:level])
        content_t = tensor_of(content, size, self.device)
        style_ts = [
            tensor_of(s, style_size(s.size, size, params.style_scale), self.device)
            for s in styles
        ]
        if params.keep_colors:
            style_ts = [color.matched_luminance(s, content_t) for s in style_ts]
            target = color.luminance(content_t)
        else:
            target = content_t
        style_losses = self._style_losses(style_ts)
        style_weights = self._style_weights(style_losses, target, size)
        if previous is None:
            start = target.clone()
            if params.start == "photo_colors" and not params.keep_colors:
                start = color.matched_colors(start, style_ts[0])
            if params.init_noise > 0:
                noise = torch.randn(start.shape, generator=self.generator).to(self.device)
                start = (start + params.init_noise * noise).clamp(0, 1)
        else:
            start = F.interpolate(
                previous, size=(size[1], size[0]), mode="bicubic", align_corners=False
            ).clamp(0, 1)
        del style_ts
        x = start.contiguous().requires_grad_(True)
        optimizer = torch.optim.Adam([x], lr=params.learning_rate)
        logger.info(
            "tiled level %d %s: %d px tiles, %d px overlap, %d steps",
            level + 1, size, self.tile, self.overlap, params.steps[level],
        )
        for _ in range(params.steps[level]):
            optimizer.zero_grad(set_to_none=True)
            loss = self._accumulate(x, target, style_losses, style_weights, size)
            if not math.isfinite(loss):
                raise FloatingPointError(f"the tiled optimisation diverged (loss {loss})")
            optimizer.step()
            self.step += 1
            progress = Progress(
                step=self.step,
                total=clock.total,
                scale=level + 1,
                scales=params.scales,
                size=size,
                loss=loss,
                elapsed=0.0,
                eta=0.0,
                snapshot=functools.partial(picture_of, x, content_t, params.keep_colors),
            )
            if report(progress) is False:
                raise Cancelled(f"cancelled at step {self.step} of {clock.total}")
        return content_t, x.detach().clamp(0, 1).contiguous()

    def _style_losses(self, style_ts: Sequence[torch.Tensor]) -> dict[str, StyleLoss]:
        """The blended Gram targets, computed once for the level (transfer._objective's
        blend: Σ w_i G_i)."""
        blended: dict[str, torch.Tensor] = {}
        for style, weight in zip(style_ts, self.weights, strict=True):
            for name, g in self.grams(style).items():
                blended[name] = blended[name] + weight * g if name in blended else weight * g
        return {name: StyleLoss(g) for name, g in blended.items()}

    @torch.no_grad()
    def _style_weights(
        self, losses: dict[str, StyleLoss], target: torch.Tensor, size: tuple[int, int]
    ) -> dict[str, float]:
        """Each style layer's weight, normalised at the photo as stylize does (its tiles'
        mean loss standing for the whole photo's)."""
        params = self.params
        base = params.style_weight * params.strength / len(losses)
        if params.style_normalise == "none":
            return {name: base for name in losses}
        at_photo = dict.fromkeys(losses, 0.0)
        layout = tiles.layout(size, tile=self.tile, overlap=0)
        for t in layout:
            found = self.features(target[..., t.rows, t.columns], tuple(losses))
            for name, loss in losses.items():
                at_photo[name] += float(loss(found[name])) / len(layout)
        if params.style_normalise == "photo_layer":
            return {name: base / max(at_photo[name], 1e-8) for name in losses}
        mean = sum(at_photo.values()) / len(at_photo)
        return {name: base / max(mean, 1e-8) for name in losses}

    def _accumulate(
        self,
        x: torch.Tensor,
        target: torch.Tensor,
        style_losses: dict[str, StyleLoss],
        style_weights: dict[str, float],
        size: tuple[int, int],
    ) -> float:
        """One step's gradient into ``x.grad``, tile by tile; returns the blended loss."""
        params = self.params
        layout = tiles.layout(
            size, tile=self.tile, overlap=self.overlap, generator=self.generator
        )
        shares = tiles.blend_weights(layout, size, ramp=self.overlap, device=self.device)
        layers = tuple(dict.fromkeys((*self.content_layers, *style_losses)))
        total = 0.0
        for t, share in zip(layout, shares, strict=True):
            piece = x[..., t.rows, t.columns]
            # The tile's gradient, weighted by its blend window, is what reaches x.grad.
            piece.register_hook(functools.partial(torch.mul, share))
            with torch.no_grad():
                photo = self.features(target[..., t.rows, t.columns], tuple(self.content_layers))
            found = self.features(piece, layers)
            loss = piece.new_zeros((), dtype=torch.float32)
            for name, weight in self.content_layers.items():
                term = ContentLoss(photo[name])(found[name])
                loss = loss + params.content_weight * weight * term
            for name, style_loss in style_losses.items():
                loss = loss + style_weights[name] * style_loss(found[name])
            if params.tv_weight:
                loss = loss + params.tv_weight * self.tv(piece)
            loss.backward()
            total += float(loss.detach()) * float(share.sum()) / (size[0] * size[1])
        return total
