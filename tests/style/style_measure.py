"""How close a picture's style is to a painting's, for the engine tests (on any device)."""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from engine.style.losses import gram_matrix
from engine.style.transfer import STYLE_LAYERS, style_size
from engine.style.vgg import VGG19Features


def as_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB picture as a 1x3xHxW tensor in [0, 1], on the CPU."""
    return pil_to_tensor(image).float().div(255).unsqueeze(0)


def style_distance(model: VGG19Features, image: Image.Image, painting: Image.Image) -> float:
    """Mean relative Gram distance to the painting over the style layers (lower: closer),
    the painting at the picture's pixel count, on the model's device."""
    device = next(model.parameters()).device
    with torch.no_grad():
        ours = model(as_tensor(image).to(device), STYLE_LAYERS)
        resized = painting.resize(style_size(painting.size, image.size, 1.0))
        theirs = model(as_tensor(resized).to(device), STYLE_LAYERS)
    terms = []
    for name in STYLE_LAYERS:
        target = gram_matrix(theirs[name])
        terms.append(float((gram_matrix(ours[name]) - target).norm() / target.norm()))
    return sum(terms) / len(terms)
