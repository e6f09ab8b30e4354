"""The loss terms on tensors whose answers are known by hand."""

from __future__ import annotations

import torch

from engine.style.losses import ContentLoss, StyleLoss, TotalVariationLoss, gram_matrix


def test_gram_matrix_of_a_known_tensor() -> None:
    # Two channels over a 1x2 image: [1, 2] and [3, 4].
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2  # F Fᵀ / (H W)
    torch.testing.assert_close(gram_matrix(features), expected)


def test_gram_matrix_is_fp32_for_bf16_features() -> None:
    features = torch.rand(1, 4, 8, 8).to(torch.bfloat16)
    assert gram_matrix(features).dtype == torch.float32


def test_total_variation_of_constant_image_is_zero() -> None:
    assert TotalVariationLoss()(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0


def test_total_variation_of_a_ramp() -> None:
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 3, 4)  # +1 per column
    assert TotalVariationLoss()(ramp).item() == 1.0


def test_content_loss_is_zero_at_target_and_grows_away_from_it() -> None:
    target = torch.rand(1, 8, 4, 4)
    loss = ContentLoss(target)
    assert loss(target.clone()).item() == 0.0
    assert loss(target * 1.1).item() > 0.0
    # Relative: 10% off everywhere is 1% of the energy.
    assert abs(loss(target * 1.1).item() - 0.01) < 1e-5


def test_style_loss_is_zero_for_the_same_texture_anywhere() -> None:
    features = torch.rand(1, 8, 6, 6)
    loss = StyleLoss(gram_matrix(features))
    assert loss(features).item() < 1e-10
    # A Gram matrix ignores where things are: a flipped copy has the same style.
    assert loss(features.flip(-1)).item() < 1e-10
    assert loss(torch.rand(1, 8, 6, 6)).item() > 1e-3


def test_targets_are_buffers() -> None:
    loss = StyleLoss(torch.eye(3).unsqueeze(0))
    assert "target" in dict(loss.named_buffers())
    assert list(loss.parameters()) == []
