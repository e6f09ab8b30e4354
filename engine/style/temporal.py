"""The temporal term of a video frame's objective (Ruder, Dosovitskiy & Brox, GCPR 2016, eq. 2).

    L_temporal(x, ω, c) = 1/D Σ_k c_k (x_k − ω_k)²

``x`` is the frame being painted, ``ω`` the previous painted frame warped along the optical
flow onto it, ``c`` the per-pixel weight: 1 where the flow is reliable, 0 where the pixel was
hidden in the previous frame or sits on a motion boundary (engine/video/flow.py), and D the
number of values (pixels times channels). Pixels are in [0, 1], as everywhere here.
"""

from __future__ import annotations

import torch
from torch import nn


class TemporalLoss(nn.Module):
    """The weighted squared difference to the warped previous frame, on reliable pixels."""

    target: torch.Tensor
    mask: torch.Tensor

    def __init__(self, target: torch.Tensor, mask: torch.Tensor, *, weight: float = 1.0) -> None:
        """``target``: (1, C, H, W) in [0, 1]; ``mask``: (H, W) or (1, 1, H, W) of 0..1."""
        super().__init__()
        if mask.dim() == 2:
            mask = mask[None, None]
        if target.shape[-2:] != mask.shape[-2:]:
            raise ValueError(f"target {tuple(target.shape)} and mask {tuple(mask.shape)} differ")
        self.register_buffer("target", target.detach().float())
        self.register_buffer("mask", mask.detach().float().to(target.device))
        self.weight = weight

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        difference = (image.float() - self.target).pow(2) * self.mask
        return self.weight * difference.sum() / self.target.numel()
