"""How far a stylised picture is from its painting and its photo, measured one way for all.

Both figures are relative distances in VGG-19 feature space, computed in fp32 at the output's
resolution with our own network, so outputs from different programs compare fairly:

- style distance: the mean over relu1_1..relu5_1 of ‖G_l(out) − G_l(style)‖_F / ‖G_l(style)‖_F,
  with the painting resized to the output's pixel count (as both programs do by default);
- content distance: ‖F(out) − F(photo)‖ / ‖F(photo)‖ at relu4_2, the photo resized to the
  output's size.

Lower is closer; the two pull against each other, so compare them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from engine.style.losses import gram_matrix
from engine.style.transfer import CONTENT_LAYER, STYLE_LAYERS
from engine.style.vgg import VGG19Features


@dataclass(frozen=True)
class Distances:
    style: float
    content: float


def _tensor(image: Image.Image, size: tuple[int, int], device: torch.device) -> torch.Tensor:
    image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return pil_to_tensor(image).float().div(255).unsqueeze(0).to(device)


@torch.no_grad()
def distances(
    model: VGG19Features, output: Image.Image, content: Image.Image, style: Image.Image
) -> Distances:
    """Style and content distances of ``output`` (see the module docstring)."""
    device = next(model.parameters()).device
    size = output.size
    area = size[0] * size[1]
    factor = math.sqrt(area / (style.size[0] * style.size[1]))
    style_size = (round(style.size[0] * factor), round(style.size[1] * factor))
    layers = (CONTENT_LAYER, *STYLE_LAYERS)
    out = model(_tensor(output, size, device), layers)
    photo = model(_tensor(content, size, device), [CONTENT_LAYER])[CONTENT_LAYER]
    painting = model(_tensor(style, style_size, device), STYLE_LAYERS)
    style_terms = []
    for name in STYLE_LAYERS:
        target = gram_matrix(painting[name])
        style_terms.append(float((gram_matrix(out[name]) - target).norm() / target.norm()))
    content_distance = float((out[CONTENT_LAYER] - photo).norm() / photo.norm())
    return Distances(style=sum(style_terms) / len(style_terms), content=content_distance)
