"""Several jobs through VGG-19 at once: one forward and backward pass for a whole batch.

A GPU running one 512 px job at a time is mostly idle: the network's arithmetic for one picture
takes a few milliseconds, the launches and the optimiser's Python around it the rest.
:func:`stylize_batch` stacks several jobs' pictures into one batch for the network, and keeps
everything else per job:

- one picture and one optimiser (its own L-BFGS history or Adam moments) per job, so that the
  jobs never mix: VGG-19 treats the pictures of a batch independently (no batch norm), the
  batch's loss is the sum of the jobs', and each picture's gradient is its own job's;
- one seed, one objective (the job's photo and paintings), one callback per job, so each has
  its own progress, and a job whose callback says stop leaves the batch while the others go on.

A job therefore gets the picture it would get alone with the same seed, up to the rounding of
batched convolutions. Jobs batch together only if their levels have the same shapes and their
schedules the same steps (:func:`batch_key`): with ``TransferParams.buckets``, photos of
nearby shapes share buckets (engine/style/buckets.py).
"""

from __future__ import annotations

import functools
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch
from PIL import Image

from engine.style.transfer import (
    Cancelled,
    Objective,
    Progress,
    TransferParams,
    autocast_for,
    finished,
    level_sizes,
    make_optimizer,
    network_memory_format,
    normalised_weights,
    picture_of,
    prepare_level,
    use_bf16,
)
from engine.style.vgg import VGG19Features

logger = logging.getLogger(__name__)

Outcome = Image.Image | Cancelled | FloatingPointError  # a job's picture, or why it has none


@dataclass(frozen=True, kw_only=True)
class BatchJob:
    """One job of a batch: what :func:`~engine.style.transfer.stylize` takes for it."""

    content: Image.Image
    styles: Sequence[Image.Image]
    params: TransferParams
    style_weights: Sequence[float] | None = None
    callback: Callable[[Progress], bool | None] | None = None


def batch_key(content_size: tuple[int, int], params: TransferParams) -> tuple[object, ...]:
    """Jobs with equal keys can share a batch: the same level shapes, the same steps per level,
    and the same optimiser, precision and network settings."""
    sizes, _ = level_sizes(content_size, params)
    return (
        tuple(sizes),
        params.steps,
        params.optimizer,
        params.precision,
        params.compile,
        params.content_layers,
        params.style_layers,
    )


@dataclass
class _Running:
    """A job's state inside the batch."""

    job: BatchJob
    weights: list[float]
    generator: torch.Generator
    sizes: list[tuple[int, int]]
    output_size: tuple[int, int]
    outcome: Outcome | None = None
    image: torch.Tensor | None = None
    content_t: torch.Tensor = field(default_factory=lambda: torch.empty(0))


def stylize_batch(jobs: Sequence[BatchJob], *, model: VGG19Features) -> list[Outcome]:
    """Run ``jobs`` (same :func:`batch_key`) together; each one's picture, or the
    :class:`Cancelled` its callback asked for, or the FloatingPointError of its divergence,
    in the order given."""
    if not jobs:
        return []
    keys = {batch_key(job.content.size, job.params) for job in jobs}
    if len(keys) > 1:
        raise ValueError("the jobs of a batch need the same level shapes and schedule")
    first = jobs[0].params
    device = next(model.parameters()).device
    bf16 = use_bf16(device, first.precision)
    autocast = functools.partial(autocast_for, device, bf16)
    memory_format = network_memory_format(device)
    network: Callable[..., dict[str, torch.Tensor]] = model
    if first.compile:
        network = torch.compile(model, dynamic=False)

    running = []
    for job in jobs:
        seed = job.params.seed
        if seed is None:
            seed = random.SystemRandom().randrange(2**63)
        sizes, output_size = level_sizes(job.content.size, job.params)
        running.append(
            _Running(
                job=job,
                weights=normalised_weights(len(job.styles), job.style_weights),
                generator=torch.Generator().manual_seed(seed),
                sizes=sizes,
                output_size=output_size,
            )
        )
    logger.info("batch of %d: levels %s, steps %s", len(jobs), running[0].sizes, first.steps)

    started = time.perf_counter()
    sizes = running[0].sizes
    work = [steps * w * h for steps, (w, h) in zip(first.steps, sizes, strict=True)]
    step, work_done = 0, 0.0
    for level, (size, level_steps) in enumerate(zip(sizes, first.steps, strict=True), start=1):
        active = [
            _start_level(r, level=level, size=size, device=device, network=network,
                         memory_format=memory_format, autocast=autocast)
            for r in running
            if r.outcome is None
        ]
        for _ in range(level_steps):
            if not active:
                break
            losses = _batched_gradients(
                network, active, autocast=autocast, memory_format=memory_format
            )
            step += 1
            work_done += size[0] * size[1]
            elapsed = time.perf_counter() - started
            eta = elapsed * (sum(work) - work_done) / work_done
            for here, loss in zip(active, losses, strict=True):
                r = here.job
                if not math.isfinite(loss):
                    r.outcome = FloatingPointError(
                        f"the optimisation diverged (loss {loss}) at level {level}"
                    )
                    continue
                # The gradient is in place: the optimiser's "closure" only hands back its loss.
                here.optimizer.step(functools.partial(float, loss))
                if here.average is not None:
                    ema = r.job.params.ema
                    here.average.mul_(ema).add_(here.x.detach(), alpha=1 - ema)
                if r.job.callback is None:
                    continue
                progress = Progress(
                    step=step,
                    total=first.total_steps,
                    scale=level,
                    scales=first.scales,
                    size=size,
                    loss=loss,
                    elapsed=elapsed,
                    eta=eta,
                    snapshot=functools.partial(
                        picture_of, here.x, r.content_t, r.job.params.keep_colors
                    ),
                )
                if r.job.callback(progress) is False:
                    logger.info("batch: a job cancelled at step %d", step)
                    r.outcome = Cancelled(f"cancelled at step {step} of {first.total_steps}")
            active = [here for here in active if here.job.outcome is None]
        for here in active:
            picture = here.average if here.average is not None else here.x.detach()
            here.job.image = picture.clamp(0, 1).contiguous()

    outcomes: list[Outcome] = []
    for r in running:
        if r.outcome is None:
            assert r.image is not None  # every level ran for a job still in the batch
            r.outcome = finished(r.image, r.content_t, r.job.params, r.output_size)
        outcomes.append(r.outcome)
    return outcomes


@dataclass
class _LevelState:
    """A job's picture, optimiser and objective at one level."""

    job: _Running
    x: torch.Tensor
    optimizer: torch.optim.Optimizer
    objective: Objective
    average: torch.Tensor | None  # of the last level's iterates, with params.ema


def _start_level(
    r: _Running,
    *,
    level: int,
    size: tuple[int, int],
    device: torch.device,
    network: Callable[..., dict[str, torch.Tensor]],
    memory_format: torch.memory_format,
    autocast: Callable[[], AbstractContextManager[object]],
) -> _LevelState:
    """A job's level prepared as stylize prepares it (transfer.prepare_level)."""
    params = r.job.params
    r.content_t, objective, start = prepare_level(
        r.job.content,
        r.job.styles,
        r.weights,
        params,
        size=size,
        previous=r.image,
        generator=r.generator,
        device=device,
        network=network,
        memory_format=memory_format,
        autocast=autocast,
    )
    x = start.contiguous().requires_grad_(True)
    average = x.detach().clone() if params.ema and level == params.scales else None
    return _LevelState(r, x, make_optimizer(x, params), objective, average)


def _batched_gradients(
    network: Callable[..., dict[str, torch.Tensor]],
    active: Sequence[_LevelState],
    *,
    autocast: Callable[[], AbstractContextManager[object]],
    memory_format: torch.memory_format,
) -> list[float]:
    """One forward and backward pass for the whole batch; each picture's ``.grad`` is its own
    job's gradient, and each job's loss is returned."""
    for here in active:
        here.x.grad = None
    layers = active[0].objective.layers
    batch = torch.cat([here.x.contiguous(memory_format=memory_format) for here in active])
    with autocast():
        features = network(batch, layers)
    losses = [
        here.objective(here.x, {name: f[i : i + 1] for name, f in features.items()})
        for i, here in enumerate(active)
    ]
    torch.stack(losses).sum().backward()
    return [float(loss.detach()) for loss in losses]
