"""Keeping the photo's colours: luminance-only transfer.

Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural Artistic Style Transfer"
(2016), section 2: run the transfer on luminance alone, with the style's luminance shifted and
scaled to the photo's mean and spread, then put the photo's own colour channels back. We use
the YIQ space the paper uses.
"""

from __future__ import annotations

import torch

_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(image), image)


def rgb_to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> YIQ."""
    return _apply(_RGB_TO_YIQ, rgb)


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """YIQ -> (N, 3, H, W) RGB, not clamped."""
    return _apply(torch.linalg.inv(_RGB_TO_YIQ), yiq)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """The Y channel as a grey RGB image (the network still wants three channels)."""
    return rgb_to_yiq(rgb)[:, :1].expand(-1, 3, -1, -1).contiguous()


def matched_luminance(style_rgb: torch.Tensor, content_rgb: torch.Tensor) -> torch.Tensor:
    """The style's luminance with the photo's mean and standard deviation (paper, eq. 1)."""
    y_style = rgb_to_yiq(style_rgb)[:, :1]
    y_content = rgb_to_yiq(content_rgb)[:, :1]
    scaled = (y_style - y_style.mean()) * (y_content.std() / y_style.std().clamp_min(1e-6))
    return (scaled + y_content.mean()).clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def with_colors_of(grey_result: torch.Tensor, content_rgb: torch.Tensor) -> torch.Tensor:
    """Combine the result's luminance with the photo's I and Q channels (same size)."""
    yiq = rgb_to_yiq(content_rgb)
    y = rgb_to_yiq(grey_result)[:, :1]
    return yiq_to_rgb(torch.cat([y, yiq[:, 1:]], dim=1)).clamp(0, 1)


def _symmetric_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(1e-8).pow(power)) @ vectors.T


def matched_colors(image: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """``image`` with the colour mean and covariance of ``palette`` (both (1, 3, H, W) RGB).

    The linear colour transfer of Gatys et al. 2016 (section 3, "colour histogram matching"):
    x' = Σ_p^½ Σ_x^-½ (x − μ_x) + μ_p, with symmetric matrix square roots; clamped to [0, 1].
    """
    pixels = image.reshape(3, -1).double()
    colours = palette.reshape(3, -1).double()
    mean_x, mean_p = pixels.mean(dim=1, keepdim=True), colours.mean(dim=1, keepdim=True)
    cov_x, cov_p = torch.cov(pixels), torch.cov(colours)
    transform = _symmetric_power(cov_p, 0.5) @ _symmetric_power(cov_x, -0.5)
    matched = transform @ (pixels - mean_x) + mean_p
    return matched.to(image.dtype).reshape(image.shape).clamp(0, 1)
