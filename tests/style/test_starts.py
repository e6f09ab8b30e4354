"""Where the optimisation starts: the photo, the photo in the painting's colours, or a rough
feed-forward stylization."""

from __future__ import annotations

import dataclasses

import torch
from PIL import Image

from engine.style import color, feedforward
from engine.style.evaluation import as_tensor, structure, style_distance
from engine.style.transfer import TransferParams, stylize
from engine.style.vgg import VGG19Features

TINY = TransferParams(size=48, scales=2, steps=(4, 2), seed=0)


def _moments(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = image.reshape(3, -1).double()
    return pixels.mean(dim=1), torch.cov(pixels)


def test_matched_colours_take_the_palettes_mean_and_covariance(
    photo: Image.Image, painting: Image.Image
) -> None:
    # A palette of middling colours, so that clamping to [0, 1] seldom bends the statistics.
    source, palette = as_tensor(photo), as_tensor(painting) * 0.4 + 0.3
    matched = color.matched_colors(source, palette)
    mean, cov = _moments(matched)
    want_mean, want_cov = _moments(palette)
    torch.testing.assert_close(mean, want_mean, atol=0.01, rtol=0)
    torch.testing.assert_close(cov, want_cov, atol=0.002, rtol=0.05)
    assert matched.shape == source.shape
    assert not torch.allclose(_moments(source)[1], want_cov, atol=0.002)


def test_the_feed_forward_network_repaints_at_the_size_asked(
    vgg: VGG19Features, face: Image.Image, painting: Image.Image
) -> None:
    rough = feedforward.stylize(face, [painting])
    assert rough.size == face.size
    assert feedforward.stylize(face, [painting], size=48).size == (48, 48)
    assert style_distance(vgg, rough, painting) < style_distance(vgg, face, painting)
    assert structure(rough, face) > 0.5  # it keeps the photo's outlines


def test_every_start_paints_the_photo(
    vgg: VGG19Features, photo: Image.Image, painting: Image.Image
) -> None:
    pictures = {}
    for start in ("photo", "photo_colors", "feedforward"):
        params = dataclasses.replace(TINY, start=start)
        pictures[start] = stylize(photo, [painting], model=vgg, params=params)
        assert pictures[start].size == photo.size
    assert pictures["photo"].tobytes() != pictures["photo_colors"].tobytes()
    assert pictures["photo"].tobytes() != pictures["feedforward"].tobytes()
