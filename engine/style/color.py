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
