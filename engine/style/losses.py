"""The three terms of the style-transfer objective, as small modules holding their targets.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016),
eqs. 1-5: content is matched feature by feature at one layer, style through Gram matrices
(feature correlations) at several. Where we depart from the paper it says so below.

Gram matrices and the losses are always computed in fp32, even when the network runs under
bf16 autocast: a Gram matrix sums H*W products, more than bf16's 8-bit mantissa can carry.
"""

from __future__ import annotations

import torch
from torch import nn


def _fp32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype != torch.float32 else x


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C): F Fᵀ / (H W), in fp32.

    The paper's Gram matrix is the plain F Fᵀ, with the size folded into the loss as
    1 / (4 N² M²); dividing by M = H W here keeps the values comparable across scales.
    """
    n, c, h, w = features.shape
    with torch.autocast(device_type=features.device.type, enabled=False):
        flat = _fp32(features).reshape(n, c, h * w)
        return torch.bmm(flat, flat.transpose(1, 2)) / (h * w)


def _relative_sq_error(
    value: torch.Tensor, target: torch.Tensor, norm: torch.Tensor
) -> torch.Tensor:
    return (value - target).pow(2).sum() / norm


class ContentLoss(nn.Module):
    """‖F − P‖² at one layer (eq. 1), divided by ‖P‖².

    Departure: the paper uses ½‖F − P‖². Dividing by the target's energy makes the loss
    dimensionless, so one content/style weight ratio works at every image size and layer.
    """

    target: torch.Tensor
    norm: torch.Tensor

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        target = _fp32(target.detach())
        self.register_buffer("target", target)
        self.register_buffer("norm", target.pow(2).sum().clamp_min(1e-8))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=features.device.type, enabled=False):
            return _relative_sq_error(_fp32(features), self.target, self.norm)


class StyleLoss(nn.Module):
    """‖G(F) − A‖² for one layer's Gram matrix (eq. 4), divided by ‖A‖².

    Departure: the paper weights layer l by 1 / (4 N_l² M_l²); normalising by the target
    Gram's own energy instead puts every layer on the same footing whatever its depth or the
    image size, so equal layer weights (the paper's w_l = 1/5) really are equal.
    """

    target: torch.Tensor
    norm: torch.Tensor

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        target = _fp32(target_gram.detach())
        self.register_buffer("target", target)
        self.register_buffer("norm", target.pow(2).sum().clamp_min(1e-12))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return _relative_sq_error(gram_matrix(features), self.target, self.norm)


class TotalVariationLoss(nn.Module):
    """Mean squared difference between neighbouring pixels.

    Not in Gatys et al.; a small amount (as in Johnson et al. 2016, Mahendran & Vedaldi 2015)
    suppresses the high-frequency speckle the optimisation otherwise leaves behind.
    """

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=image.device.type, enabled=False):
            image = _fp32(image)
            dx = image[..., :, 1:] - image[..., :, :-1]
            dy = image[..., 1:, :] - image[..., :-1, :]
            return dx.pow(2).mean() + dy.pow(2).mean()
