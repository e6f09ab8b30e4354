"""The loss terms on tensors whose answers are known by hand."""

from __future__ import annotations

import torch

from engine.style.losses import (
    ContentLoss,
    MeanCovarianceStyleLoss,
    StyleLoss,
    TotalVariationLoss,
    gram_matrix,
)


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


def test_mean_covariance_loss_is_zero_at_its_target_and_anywhere_in_the_picture() -> None:
    features = torch.rand(1, 8, 6, 6)
    loss = MeanCovarianceStyleLoss.of(features)
    assert abs(loss(features).item()) < 1e-5
    # Like a Gram matrix, means and covariances ignore where things are.
    assert abs(loss(features.flip(-1).flip(-2)).item()) < 1e-5
    assert loss(torch.rand(1, 8, 6, 6) * 2).item() > 1e-2


def test_mean_covariance_loss_sees_a_shift_a_gram_matrix_mixes_in() -> None:
    features = torch.rand(1, 4, 8, 8)
    loss = MeanCovarianceStyleLoss.of(features)
    shifted = features + 0.5  # the same covariance, another mean
    expected = 4 * 0.5**2 / float(loss.norm)  # ‖Δμ‖² over the target's energy
    assert abs(loss(shifted).item() - expected) < 1e-4


def test_mean_covariance_loss_gradient_points_towards_the_target() -> None:
    torch.manual_seed(0)
    loss = MeanCovarianceStyleLoss.of(torch.rand(1, 8, 10, 10))
    x = torch.rand(1, 8, 10, 10, requires_grad=True)
    before = loss(x)
    before.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with torch.no_grad():
        stepped = x - 0.05 * x.grad / x.grad.norm()
    assert loss(stepped).item() < before.item()


def test_mean_covariance_loss_agrees_in_bf16_and_fp32() -> None:
    torch.manual_seed(1)
    loss = MeanCovarianceStyleLoss.of(torch.rand(1, 16, 12, 12))
    x = torch.rand(1, 16, 12, 12) * 1.5
    fp32 = loss(x).item()
    bf16 = loss(x.to(torch.bfloat16)).item()
    assert loss(x.to(torch.bfloat16)).dtype == torch.float32
    assert abs(bf16 - fp32) < 0.02 * fp32, (bf16, fp32)


def test_a_blend_of_one_painting_is_that_painting() -> None:
    a, b = torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6) + 1
    alone = MeanCovarianceStyleLoss.of(a)
    blended = MeanCovarianceStyleLoss.blended([a, b], [1.0, 0.0])
    torch.testing.assert_close(blended.mean, alone.mean)
    torch.testing.assert_close(blended.cov_sqrt, alone.cov_sqrt, atol=1e-4, rtol=1e-4)
    # An even blend is the mixture: its mean is halfway.
    half = MeanCovarianceStyleLoss.blended([a, b], [0.5, 0.5])
    torch.testing.assert_close(half.mean, (alone.mean + MeanCovarianceStyleLoss.of(b).mean) / 2)
