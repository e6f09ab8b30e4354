"""The temporal term: nothing to pay where a frame equals the warped previous one, and nothing
asked where the flow cannot be trusted."""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from engine.style.temporal import TemporalLoss
from engine.video.flow import flow, reliable_mask, warp
from tests.video.clips import moving_square


def as_tensor(picture: Image.Image) -> torch.Tensor:
    return pil_to_tensor(picture).float().div(255).unsqueeze(0)


def test_the_loss_is_zero_for_identical_frames() -> None:
    frame = moving_square(1)[0]
    forward, backward = flow(frame, frame), flow(frame, frame)
    warped = warp(frame, backward)
    mask = torch.from_numpy(reliable_mask(forward, backward))
    loss = TemporalLoss(as_tensor(warped), mask, weight=100.0)
    assert float(loss(as_tensor(frame))) < 1e-6


def test_the_loss_grows_with_the_difference_to_the_warped_frame() -> None:
    target = torch.full((1, 3, 8, 8), 0.5)
    loss = TemporalLoss(target, torch.ones(8, 8), weight=2.0)
    small, large = float(loss(target + 0.1)), float(loss(target + 0.2))
    assert abs(small - 2.0 * 0.1**2) < 1e-6  # weight x mean squared difference
    assert abs(large - 4 * small) < 1e-6


def test_unreliable_pixels_cost_nothing() -> None:
    target = torch.zeros(1, 3, 8, 8)
    mask = torch.ones(8, 8)
    mask[:, :4] = 0  # the left half was hidden in the previous frame
    image = target.clone()
    image[..., :4] = 1.0  # it is free to differ there...
    assert float(TemporalLoss(target, mask)(image)) == 0.0
    image[..., 4:] = 1.0  # ...but not where the flow is reliable
    assert float(TemporalLoss(target, mask)(image)) > 0.0


def test_the_loss_pulls_the_picture_towards_the_warped_frame() -> None:
    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    image = torch.zeros(1, 3, 8, 8, requires_grad=True)
    TemporalLoss(target, torch.ones(8, 8))(image).backward()
    assert image.grad is not None
    assert bool((image.grad < 0).all())  # a step against the gradient raises every pixel
