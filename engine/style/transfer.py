"""Neural style transfer as one pure function: pictures and parameters in, a picture out.

The algorithm is Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
Networks" (CVPR 2016): optimise the pixels of an image so that its VGG-19 features at relu4_2
match the photo and its Gram matrices at relu1_1..relu5_1 match the painting. Departures,
each for speed or control:

- Coarse to fine: the optimisation runs first on a small copy and each result, upsampled,
  starts the next larger one (as in Gatys et al., "Controlling Perceptual Factors in Neural
  Style Transfer", CVPR 2017, section 5). Large brush strokes settle cheaply at low resolution.
- It starts from the photo with the painting's colour statistics (the paper's figures start
  from white noise), plus optional noise.
- Each style layer's term is divided by its value at the photo, so that a style weight (and a
  strength step) means the same for a busy painting and a quiet one, and for a layer the photo
  nearly matches as for one it is far from; set on the 30-pair evaluation (bench/quality.py,
  docs/BENCHMARKS.md).
- Several paintings blend by mixing their Gram targets with weights; the photo's colours can
  be kept by transferring luminance only (engine/color.py).
- The network runs under bf16 autocast where the hardware has it; Gram matrices and losses stay
  in fp32 (engine/losses.py).

Nothing here knows about the queue or Telegram; progress leaves through ``callback``.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.transforms.functional import pil_to_tensor, to_pil_image

from engine.style import buckets, color
from engine.style.losses import (
    ContentLoss,
    MeanCovarianceStyleLoss,
    StyleLoss,
    TotalVariationLoss,
    gram_matrix,
)
from engine.style.vgg import VGG19Features

logger = logging.getLogger(__name__)

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
OPTIMIZERS = ("lbfgs", "adam")
PRECISIONS = ("auto", "bf16", "fp32")
STYLE_LOSSES = ("gram", "meancov")  # Gram matrices (the paper) or means and covariances (W2)
STYLE_NORMALISATIONS = ("none", "photo", "photo_layer")
STARTS = ("photo", "photo_colors", "feedforward")
MIN_SIDE = 16  # relu5_1 sits behind four 2x poolings


@dataclass(frozen=True, kw_only=True)
class TransferParams:
    """Every hyper-parameter of :func:`stylize`, with its default here and only here."""

    size: int = 512  # long side of the output, pixels (never larger than the photo)
    scales: int = 2  # coarse-to-fine levels
    scale_ratio: float = 0.5  # each level's long side relative to the next finer one
    steps: tuple[int, ...] = (60, 15)  # optimiser steps per level, coarse first
    optimizer: str = "lbfgs"  # or "adam"
    learning_rate: float = 0.02  # Adam only; pixels are in [0, 1]
    lbfgs_history: int = 50  # L-BFGS memory (pairs of image-sized vectors)
    content_weight: float = 1.0
    # Before ``strength``; relative to the style term at the photo (style_normalise). Chosen on
    # bench/quality.py's portraits and pets: 3 left faces clearest but lighter on the painting
    # than pastiche, 8 moved too far from the photo (docs/BENCHMARKS.md).
    style_weight: float = 5.0
    tv_weight: float = 1.0e1
    strength: float = 1.0  # multiplies the style weight
    style_scale: float = 1.0  # style image size relative to the output (by side)
    keep_colors: bool = False  # keep the photo's colours (luminance-only transfer)
    init_noise: float = 0.0  # std of Gaussian noise added to the starting image, [0, 1] units
    seed: int | None = None  # None: a fresh random seed each run
    precision: str = "auto"  # "auto" (bf16 where the hardware has it), "bf16" or "fp32"
    compile: bool = False  # torch.compile the network
    # (layer, weight) pairs; the weights multiply content_weight.
    content_layers: tuple[tuple[str, float], ...] = ((CONTENT_LAYER, 1.0),)
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_loss: str = "gram"  # see STYLE_LOSSES
    # "photo_layer": each style layer's term is divided by its value at the photo, so that
    # every painting and every layer starts from the same balance (a layer the photo already
    # nearly matches is not drowned by one it is far from); "photo" divides the whole style
    # term by its mean layer value there; "none". photo_layer won on bench/quality.py's
    # pastiche pairs, nearer both the painting and the photo (docs/BENCHMARKS.md).
    style_normalise: str = "photo_layer"
    # "photo_colors": the photo with the painting's colour statistics; "photo"; "feedforward"
    start: str = "photo_colors"
    ema: float = 0.0  # decay of an average of the last level's iterates, returned instead
    # Optimise each level at its size bucket's shape (engine/style/buckets.py: a few shapes,
    # so a GPU's per-shape autotuning is reused), resizing the result back at the end.
    buckets: bool = False

    def __post_init__(self) -> None:
        if self.size < MIN_SIDE:
            raise ValueError(f"size must be at least {MIN_SIDE} pixels, got {self.size}")
        if self.scales < 1:
            raise ValueError(f"scales must be at least 1, got {self.scales}")
        if len(self.steps) != self.scales:
            raise ValueError(f"steps needs one entry per scale ({self.scales}), got {self.steps}")
        if any(s < 0 for s in self.steps) or sum(self.steps) == 0:
            raise ValueError(f"steps must be non-negative and not all zero, got {self.steps}")
        if not 0 < self.scale_ratio <= 1:
            raise ValueError(f"scale_ratio must be in (0, 1], got {self.scale_ratio}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("strength", "style_scale", "learning_rate", "content_weight", "style_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not (math.isfinite(self.tv_weight) and self.tv_weight >= 0) or self.init_noise < 0:
            raise ValueError("tv_weight and init_noise must be non-negative")
        if not self.style_layers:
            raise ValueError("style_layers must name at least one layer")
        if not self.content_layers or any(w < 0 for _, w in self.content_layers):
            raise ValueError("content_layers needs at least one (layer, weight >= 0) pair")
        for name, value, allowed in (
            ("style_loss", self.style_loss, STYLE_LOSSES),
            ("style_normalise", self.style_normalise, STYLE_NORMALISATIONS),
            ("start", self.start, STARTS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")

    @property
    def total_steps(self) -> int:
        return sum(self.steps)


@dataclass(frozen=True)
class Progress:
    """Where a running :func:`stylize` is; passed to the callback after every step."""

    step: int  # steps done, over all scales
    total: int
    scale: int  # 1-based, coarse first
    scales: int
    size: tuple[int, int]  # (width, height) of the current scale
    loss: float
    elapsed: float  # seconds
    eta: float  # seconds left, estimated from the work done so far
    # The picture as it stands (the CLI saves it every N steps); costs a copy only when called.
    snapshot: Callable[[], Image.Image] | None = field(default=None, repr=False, compare=False)

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 1.0


class Cancelled(Exception):
    """The callback returned False: the caller asked :func:`stylize` to stop."""


def scale_sizes(content_size: tuple[int, int], params: TransferParams) -> list[tuple[int, int]]:
    """(width, height) of each level, coarse first, at the photo's aspect ratio.

    The finest level has a long side of ``params.size``, or the photo's own if that is smaller;
    coarser levels shrink by ``scale_ratio`` but never below MIN_SIDE on the short side.
    """
    width, height = content_size
    long_side = min(params.size, max(width, height))
    sizes = []
    for level in range(params.scales):
        factor = long_side * params.scale_ratio ** (params.scales - 1 - level) / max(width, height)
        factor = max(factor, MIN_SIDE / min(width, height))
        sizes.append((max(MIN_SIDE, round(width * factor)), max(MIN_SIDE, round(height * factor))))
    return sizes


def style_size(
    style_size: tuple[int, int], output: tuple[int, int], scale: float
) -> tuple[int, int]:
    """Resize a painting to the output's pixel count times ``scale``², keeping its shape."""
    width, height = style_size
    factor = math.sqrt(output[0] * output[1] / (width * height)) * scale
    factor = max(factor, MIN_SIDE / min(width, height))
    return max(MIN_SIDE, round(width * factor)), max(MIN_SIDE, round(height * factor))


@functools.cache
def _cpu_has_bf16() -> bool:
    """True when the CPU does bf16 dot products natively (AVX-512 BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def network_memory_format(device: torch.device) -> torch.memory_format:
    """The layout of the network's inputs: NHWC on CUDA, cuDNN's fast path on tensor cores."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def use_bf16(device: torch.device, precision: str) -> bool:
    """Whether the network runs under bf16 autocast on ``device`` for this ``precision``."""
    if precision == "fp32":
        return False
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        # Without native bf16, the CPU emulates it and autocast is slower than fp32.
        supported = _cpu_has_bf16() or precision == "bf16"
    else:
        supported = False
    return supported


def tensor_of(image: Image.Image, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """A picture resized to ``size`` (Lanczos) as a 1x3xHxW tensor in [0, 1] on ``device``."""
    resized = image.convert("RGB")
    if resized.size != size:
        resized = resized.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return (pil_to_tensor(resized).float().div(255)).unsqueeze(0).to(device)


def normalised_weights(count: int, weights: Sequence[float] | None) -> list[float]:
    """The paintings' blend weights, checked and scaled to sum to one (None: equal)."""
    if count == 0:
        raise ValueError("stylize needs at least one style image")
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise ValueError(f"got {len(weights)} style weights for {count} style images")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"style weights must be non-negative and not all zero, got {weights}")
    total = float(sum(weights))
    return [w / total for w in weights]


def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    *,
    model: VGG19Features,
    params: TransferParams,
    style_weights: Sequence[float] | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    start_image: Image.Image | None = None,
    extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
    targets: StyleTargets | None = None,
) -> Image.Image:
    """Repaint ``content`` in the blended style of ``styles``; returns an RGB image.

    ``callback`` gets a :class:`Progress` after every optimiser step; returning False asks it
    to stop: stylize raises :class:`Cancelled` before the next step.

    Three hooks for the frames of a video (engine/style/video.py), none used by a photo:
    ``start_image`` replaces ``params.start`` as the first level's starting picture;
    ``extra_loss`` is added to the objective (it gets the picture being optimised, at the
    level's size); ``targets`` keeps each level's style terms from the first call that made
    them, so that a clip's painting is analysed once.
    """
    weights = normalised_weights(len(styles), style_weights)
    device = next(model.parameters()).device
    bf16 = use_bf16(device, params.precision)
    seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**63)
    generator = torch.Generator().manual_seed(seed)
    network: Callable[..., dict[str, torch.Tensor]] = model
    if params.compile:
        network = torch.compile(model, dynamic=False)
    memory_format = network_memory_format(device)

    autocast = functools.partial(autocast_for, device, bf16)
    sizes, output_size = level_sizes(content.size, params)
    # Work per level, for the ETA: a step costs about as much as the level's pixel count.
    work = [steps * w * h for steps, (w, h) in zip(params.steps, sizes, strict=True)]
    logger.info(
        "stylize: %d style(s), levels %s, steps %s, %s, %s, seed %d",
        len(styles),
        sizes,
        params.steps,
        params.optimizer,
        "bf16" if bf16 else "fp32",
        seed,
    )

    start = time.perf_counter()
    step = 0
    work_done = 0.0
    image: torch.Tensor | None = None
    content_t = torch.empty(0)
    for level, (size, level_steps) in enumerate(zip(sizes, params.steps, strict=True), start=1):
        content_t, objective, begin = prepare_level(
            content,
            styles,
            weights,
            params,
            size=size,
            previous=image,
            generator=generator,
            device=device,
            network=network,
            memory_format=memory_format,
            autocast=autocast,
            start_picture=start_image,
            targets=targets,
        )
        # The picture being optimised keeps the plain layout: L-BFGS flattens its gradient with
        # view(-1), which a channels-last tensor refuses. Only the network's input is converted.
        x = begin.contiguous().requires_grad_(True)
        optimizer = make_optimizer(x, params)
        average = x.detach().clone() if params.ema and level == params.scales else None
        last_loss = math.nan
        # The closure binds this level's tensors through defaults, not the loop variables.

        def closure(
            x: torch.Tensor = x,
            optimizer: torch.optim.Optimizer = optimizer,
            objective: Objective = objective,
        ) -> float:
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                features = network(x.contiguous(memory_format=memory_format), objective.layers)
            loss = objective(x, features)
            if extra_loss is not None:
                loss = loss + extra_loss(x)
            loss.backward()
            return float(loss.detach())

        for level_step in range(level_steps):
            last_loss = float(optimizer.step(closure))
            if not math.isfinite(last_loss):
                raise FloatingPointError(
                    f"the optimisation diverged (loss {last_loss}) at level {level}, step "
                    f"{level_step + 1}; try --fp32 or the lbfgs optimiser"
                )
            if average is not None:
                average.mul_(params.ema).add_(x.detach(), alpha=1 - params.ema)
            step += 1
            work_done += size[0] * size[1]
            if callback is not None:
                elapsed = time.perf_counter() - start
                eta = elapsed * (sum(work) - work_done) / work_done
                progress = Progress(
                    step=step,
                    total=params.total_steps,
                    scale=level,
                    scales=params.scales,
                    size=size,
                    loss=last_loss,
                    elapsed=elapsed,
                    eta=eta,
                    snapshot=functools.partial(picture_of, x, content_t, params.keep_colors),
                )
                if callback(progress) is False:
                    logger.info("stylize cancelled at step %d of %d", step, params.total_steps)
                    raise Cancelled(f"cancelled at step {step} of {params.total_steps}")
        logger.debug("level %d %s done: loss %.4g", level, size, last_loss)
        image = (average if average is not None else x.detach()).clamp(0, 1).contiguous()
        del optimizer, objective

    assert image is not None  # params guarantee at least one level
    return finished(image, content_t, params, output_size)


def autocast_for(device: torch.device, bf16: bool) -> AbstractContextManager[object]:
    """bf16 autocast on ``device``, or nothing when the network runs in fp32."""
    if not bf16:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def level_sizes(
    content_size: tuple[int, int], params: TransferParams
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """The shape each level is optimised at (its bucket's, with ``params.buckets``) and the
    output's shape."""
    sizes = scale_sizes(content_size, params)
    output_size = sizes[-1]
    if params.buckets:
        sizes = [buckets.bucket(size) for size in sizes]
    return sizes, output_size


def prepare_level(
    content: Image.Image,
    styles: Sequence[Image.Image],
    weights: Sequence[float],
    params: TransferParams,
    *,
    size: tuple[int, int],
    previous: torch.Tensor | None,
    generator: torch.Generator,
    device: torch.device,
    network: Callable[..., dict[str, torch.Tensor]],
    memory_format: torch.memory_format,
    autocast: Callable[[], AbstractContextManager[object]],
    start_picture: Image.Image | None = None,
    targets: StyleTargets | None = None,
) -> tuple[torch.Tensor, Objective, torch.Tensor]:
    """One level's photo tensor, its objective (the targets, computed once) and the picture
    it starts from: the previous level's result upsampled, or at the first level
    ``start_picture`` or else the chosen start. :func:`stylize` and a batch
    (engine/style/batch.py) prepare levels alike; ``targets`` keeps the style terms across
    calls (a video's frames)."""
    content_t = tensor_of(content, size, device)
    target_content = color.luminance(content_t) if params.keep_colors else content_t
    terms = targets.levels.get(size) if targets is not None else None
    style_ts: list[torch.Tensor] = []
    if terms is None:
        style_ts = [
            tensor_of(s, style_size(s.size, size, params.style_scale), device) for s in styles
        ]
        if params.keep_colors:  # outside autocast: the colour statistics need fp32
            style_ts = [color.matched_luminance(s, content_t) for s in style_ts]

    with torch.no_grad(), autocast():
        photo = _photo_features(network, target_content, params, memory_format)
        if terms is None:
            terms = _style_terms(network, photo, style_ts, weights, params, memory_format)
            if targets is not None:
                targets.levels[size] = terms
        objective = _objective(photo, terms, params)
    del photo, style_ts

    if previous is None and start_picture is not None:
        begin = tensor_of(start_picture, size, device)
        start_image = color.luminance(begin) if params.keep_colors else begin
    elif previous is None:
        start_image = target_content.clone()
        if params.start == "photo_colors" and not params.keep_colors:
            start_image = color.matched_colors(start_image, terms.palette)
        elif params.start == "feedforward" and not params.keep_colors:
            from engine.style import feedforward

            rough = feedforward.stylize(content, styles, weights=weights)
            start_image = tensor_of(rough, size, device)
        if params.init_noise > 0:
            noise = torch.randn(start_image.shape, generator=generator)
            start_image = (start_image + params.init_noise * noise.to(device)).clamp(0, 1)
    else:
        start_image = F.interpolate(
            previous, size=(size[1], size[0]), mode="bicubic", align_corners=False
        ).clamp(0, 1)
    return content_t, objective, start_image


@dataclass
class StyleTerms:
    """One level's style side of the objective: the loss per layer (holding the blended
    targets), each layer's weight, and the first painting at that size (its colours start the
    picture)."""

    losses: dict[str, nn.Module]
    weights: dict[str, float]
    palette: torch.Tensor


@dataclass
class StyleTargets:
    """Style terms kept across calls of :func:`stylize`, by level size (width, height).

    A video's frames share one painting and one size: the first frame computes the terms and
    every later frame reuses them. The normalisation "at the photo" is then the first frame's,
    so the style weight stays the same from frame to frame (and so does, with keep_colors, the
    painting's luminance match).
    """

    levels: dict[tuple[int, int], StyleTerms] = field(default_factory=dict)


class Objective(nn.Module):
    """One level's loss: content + strength-weighted style + total variation (paper, eq. 7)."""

    def __init__(
        self,
        contents: dict[str, ContentLoss],
        styles: dict[str, nn.Module],
        style_weights: dict[str, float],
        params: TransferParams,
    ):
        super().__init__()
        self.contents = nn.ModuleDict(contents)
        self.content_weights = {
            name: params.content_weight * weight for name, weight in params.content_layers
        }
        self.styles = nn.ModuleDict(styles)
        self.style_weights = style_weights
        self.tv = TotalVariationLoss()
        self.layers = tuple(dict.fromkeys((*contents, *styles)))
        self.tv_weight = params.tv_weight

    def forward(self, image: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = image.new_zeros((), dtype=torch.float32)
        for name, content_loss in self.contents.items():
            loss = loss + self.content_weights[name] * content_loss(features[name])
        for name, style_loss in self.styles.items():
            loss = loss + self.style_weights[name] * style_loss(features[name])
        if self.tv_weight:
            loss = loss + self.tv_weight * self.tv(image)
        return loss


def _photo_features(
    network: Callable[..., dict[str, torch.Tensor]],
    content: torch.Tensor,
    params: TransferParams,
    memory_format: torch.memory_format,
) -> dict[str, torch.Tensor]:
    """The photo's features at the content layers and the style layers (for normalising)."""
    content_names = tuple(name for name, _ in params.content_layers)
    wanted = tuple(dict.fromkeys((*content_names, *params.style_layers)))
    return network(content.contiguous(memory_format=memory_format), wanted)


def _objective(
    photo: dict[str, torch.Tensor], terms: StyleTerms, params: TransferParams
) -> Objective:
    """A level's objective: the photo's features as content targets, with the style terms."""
    contents = {name: ContentLoss(photo[name]) for name, _ in params.content_layers}
    return Objective(contents, terms.losses, terms.weights, params)


def _style_terms(
    network: Callable[..., dict[str, torch.Tensor]],
    photo: dict[str, torch.Tensor],
    styles: Sequence[torch.Tensor],
    weights: Sequence[float],
    params: TransferParams,
    memory_format: torch.memory_format,
) -> StyleTerms:
    """Style targets for one level, computed once: the blended targets and their weights.

    Mixing the Gram targets with weights w_i (Σ w_i = 1) is the weighted sum of per-style
    losses up to a constant: Σ w_i‖G − A_i‖² = ‖G − Σ w_i A_i‖² + const. Means and
    covariances blend through the mixture's moments: the blended second moment (the Gram)
    and the blended mean.
    """
    style_losses: dict[str, nn.Module] = {}
    features = [
        network(style.contiguous(memory_format=memory_format), params.style_layers)
        for style in styles
    ]
    for name in params.style_layers:
        if params.style_loss == "meancov":
            style_losses[name] = MeanCovarianceStyleLoss.blended(
                [f[name] for f in features], weights
            )
        else:
            gram = gram_matrix(features[0][name]) * weights[0]
            for more, weight in zip(features[1:], weights[1:], strict=True):
                gram = gram + gram_matrix(more[name]) * weight
            style_losses[name] = StyleLoss(gram)
    # The paper's w_l = 1/5: the style weight spreads evenly over the style layers.
    base = params.style_weight * params.strength / len(style_losses)
    style_weights = {name: base for name in style_losses}
    if params.style_normalise != "none":
        at_photo = {name: float(loss(photo[name])) for name, loss in style_losses.items()}
        if params.style_normalise == "photo_layer":
            style_weights = {name: base / max(at_photo[name], 1e-8) for name in style_losses}
        else:
            # Relative to the mean layer value, so that the weight keeps its scale.
            mean = sum(at_photo.values()) / len(at_photo)
            style_weights = {name: base / max(mean, 1e-8) for name in style_losses}
    return StyleTerms(losses=style_losses, weights=style_weights, palette=styles[0])


def make_optimizer(image: torch.Tensor, params: TransferParams) -> torch.optim.Optimizer:
    """The optimiser of one picture for ``params.optimizer``."""
    if params.optimizer == "adam":
        return torch.optim.Adam([image], lr=params.learning_rate)
    # One function evaluation per step (max_iter=1, no line search), so that progress and
    # cancellation happen between evaluations; the history carries over from step to step.
    # Zero tolerances: the schedule, not a convergence test, decides when to stop.
    return torch.optim.LBFGS(
        [image],
        lr=1.0,
        max_iter=1,
        history_size=params.lbfgs_history,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )


def finished(
    image: torch.Tensor,
    content: torch.Tensor,
    params: TransferParams,
    output_size: tuple[int, int],
) -> Image.Image:
    """The last level's picture as the result: colours put back if asked, and at the
    output's shape when a bucket's was optimised."""
    picture = picture_of(image, content, params.keep_colors)
    if picture.size != output_size:
        picture = picture.resize(output_size, Image.Resampling.LANCZOS)
    return picture


def picture_of(image: torch.Tensor, content: torch.Tensor, keep_colors: bool) -> Image.Image:
    """The optimised tensor as an RGB picture, with the photo's colours put back if asked."""
    image = image.detach().clamp(0, 1)
    if keep_colors:
        image = color.with_colors_of(image, content)
    pixels = image.squeeze(0).float().cpu().mul(255).round().to(torch.uint8)
    return to_pil_image(pixels)
