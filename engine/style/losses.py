"""The three terms of the style-transfer objective, as small modules holding their targets.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016),
eqs. 1-5: content is matched feature by feature at one layer, style through Gram matrices
(feature correlations) at several. Where we depart from the paper it says so below.

Gram matrices and the losses are always computed in fp32, even when the network runs under
bf16 autocast: a Gram matrix sums H*W products, more than bf16's 8-bit mantissa can carry.
"""

from __future__ import annotations

from collections.abc import Sequence

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


class MeanCovarianceStyleLoss(nn.Module):
    """Wasserstein-2 distance between Gaussians fitted to the features, divided by ‖A‖'s trace.

    Departure from Gatys et al.: a Gram matrix mixes the features' mean with their covariance;
    matching both apart is the optimal-transport distance between the two feature
    distributions taken as Gaussians (as in crowsonkb's style-transfer-pytorch, after
    Kolkin et al. 2019): ‖μ − μ_t‖² + tr(Σ) + tr(Σ_t) − 2 tr((Σ_t^½ Σ Σ_t^½)^½). Only the trace
    of the last square root is needed, which is the sum of the square roots of its
    eigenvalues. Divided by the target's energy tr(Σ_t) + ‖μ_t‖² (the trace of its Gram
    matrix), like :class:`StyleLoss`.
    """

    mean: torch.Tensor
    cov_sqrt: torch.Tensor
    cov_trace: torch.Tensor
    norm: torch.Tensor

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor) -> None:
        super().__init__()
        mean, cov = _fp32(mean.detach()), _fp32(cov.detach())
        values, vectors = torch.linalg.eigh(cov.double())
        root = (vectors * values.clamp_min(0).sqrt().unsqueeze(-2)) @ vectors.transpose(-1, -2)
        trace = cov.diagonal(dim1=-2, dim2=-1).sum()
        self.register_buffer("mean", mean)
        self.register_buffer("cov_sqrt", root.float())
        self.register_buffer("cov_trace", trace)
        self.register_buffer("norm", (trace + mean.pow(2).sum()).clamp_min(1e-12))

    @classmethod
    def of(cls, features: torch.Tensor) -> MeanCovarianceStyleLoss:
        """The loss whose target is these features' distribution."""
        return cls(*mean_and_covariance(features))

    @classmethod
    def blended(
        cls, features: Sequence[torch.Tensor], weights: Sequence[float]
    ) -> MeanCovarianceStyleLoss:
        """The target is the mixture of several paintings' features, weighted (Σ w = 1)."""
        moments = [mean_and_covariance(f) for f in features]
        mean = sum((w * m for (m, _), w in zip(moments, weights, strict=True)),
                   start=torch.zeros_like(moments[0][0]))
        second = sum(
            (w * (c + m.unsqueeze(-1) * m.unsqueeze(-2))
             for (m, c), w in zip(moments, weights, strict=True)),
            start=torch.zeros_like(moments[0][1]),
        )
        return cls(mean, second - mean.unsqueeze(-1) * mean.unsqueeze(-2))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        mean, cov = mean_and_covariance(features)
        with torch.autocast(device_type=features.device.type, enabled=False):
            product = self.cov_sqrt @ cov @ self.cov_sqrt
            # Symmetric in exact arithmetic; symmetrising keeps eigvalsh's gradient honest.
            product = (product + product.transpose(-1, -2)) / 2
            eigenvalues = torch.linalg.eigvalsh(product.double())
            cross = eigenvalues.clamp_min(1e-10).sqrt().sum().float()
            trace = cov.diagonal(dim1=-2, dim2=-1).sum()
            distance = (mean - self.mean).pow(2).sum() + trace + self.cov_trace - 2 * cross
            return distance.clamp_min(0) / self.norm


def mean_and_covariance(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, H, W) -> the features' mean (N, C) and covariance (N, C, C), in fp32."""
    n, c, h, w = features.shape
    with torch.autocast(device_type=features.device.type, enabled=False):
        flat = _fp32(features).reshape(n, c, h * w)
        mean = flat.mean(dim=2)
        centred = flat - mean.unsqueeze(-1)
        return mean, torch.bmm(centred, centred.transpose(1, 2)) / (h * w)


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
