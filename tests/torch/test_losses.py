"""Losses of artforge_torch.nets.losses against hand-computed values."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from artforge_torch.nets.losses import (  # noqa: E402
    GANLoss,
    content_loss,
    gradient_penalty,
    gram_matrix,
    style_loss,
    tv_loss,
)


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4  # F F^T / (C*H*W)
    assert torch.allclose(gram_matrix(f), expected.unsqueeze(0))
    batch = torch.cat([f, 2 * f])  # batch-aware: one Gram matrix per sample
    g = gram_matrix(batch)
    assert g.shape == (2, 2, 2)
    assert torch.allclose(g[0], expected) and torch.allclose(g[1], 4 * expected)
    assert gram_matrix(torch.ones(3, 4, 5, 6)).shape == (3, 4, 4)


def test_tv_loss_by_hand():
    img = torch.tensor([[0.0, 1.0], [3.0, 5.0]]).view(1, 1, 2, 2)
    # vertical differences 3, 4 -> mean square 12.5; horizontal 1, 2 -> 2.5
    assert float(tv_loss(img)) == pytest.approx(15.0)
    assert float(tv_loss(torch.full((2, 3, 8, 8), 0.7))) == 0.0
    big = torch.rand(1, 3, 16, 16)
    tiled = big.repeat(1, 1, 1, 2)
    assert float(tv_loss(tiled)) == pytest.approx(float(tv_loss(big)), rel=0.2)  # mean-normalised


def test_content_loss():
    a, b = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    assert float(content_loss(a, b)) == 1.0
    assert float(content_loss({"x": a, "y": b}, {"x": b, "y": b})) == 1.0
    assert float(content_loss(a, a)) == 0.0


def test_style_loss_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    target = torch.zeros(1, 2, 2)
    # squared Frobenius norm of the Gram matrix: (25 + 121 + 121 + 625) / 16
    expected = (25 + 121 + 121 + 625) / 16
    assert float(style_loss({"a": f}, {"a": target})) == pytest.approx(expected)
    assert float(style_loss({"a": f}, {"a": gram_matrix(f)})) == 0.0
    two = style_loss({"a": f, "b": f}, {"a": target, "b": target}, {"a": 0.5, "b": 2.0})
    assert float(two) == pytest.approx(2.5 * expected)
    batch = torch.cat([f, f])  # averaged over the batch; (1, C, C) targets broadcast
    assert float(style_loss({"a": batch}, {"a": target})) == pytest.approx(expected)


def test_gan_losses_on_known_logits():
    zero, two = torch.zeros(4), torch.full((4,), 2.0)
    ln2 = math.log(2)
    vanilla = GANLoss("vanilla")
    assert float(vanilla.d_loss(zero, zero)) == pytest.approx(ln2)  # 0.5 * (ln 2 + ln 2)
    assert float(vanilla.g_loss(zero)) == pytest.approx(ln2)
    assert float(vanilla.g_loss(two)) == pytest.approx(math.log1p(math.exp(-2)))
    assert float(vanilla(two, False)) == pytest.approx(math.log1p(math.exp(2)))
    ls = GANLoss("lsgan")
    assert float(ls.d_loss(torch.ones(3), torch.zeros(3))) == 0.0
    assert float(ls.d_loss(torch.zeros(3), torch.ones(3))) == pytest.approx(1.0)
    assert float(ls.g_loss(two)) == pytest.approx(1.0)
    hinge = GANLoss("hinge")
    assert float(hinge.d_loss(two, -two)) == 0.0
    assert float(hinge.d_loss(zero, zero)) == pytest.approx(2.0)
    assert float(hinge.d_loss(torch.tensor([0.5]), torch.tensor([0.5]))) == pytest.approx(2.0)
    assert float(hinge.g_loss(torch.tensor([3.0, 1.0]))) == pytest.approx(-2.0)
    wgan = GANLoss("wgan")
    assert wgan.kind == "wgan-gp"
    assert float(wgan.d_loss(torch.tensor([3.0, 1.0]), torch.tensor([-1.0]))) == pytest.approx(-3.0)
    assert float(wgan.g_loss(torch.tensor([-1.0, -3.0]))) == pytest.approx(2.0)
    # PatchGAN maps are averaged
    assert float(vanilla.g_loss(torch.zeros(2, 1, 30, 30))) == pytest.approx(ln2)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GANLoss("minimax")


def test_gradient_penalty_of_a_linear_critic_by_hand():
    w = torch.tensor([3.0, 0.0, 4.0, 0.0]).view(1, 1, 2, 2)  # ||w|| = 5 everywhere

    def critic(x):
        return (x * w).sum((1, 2, 3))

    real, fake = torch.rand(5, 1, 2, 2), torch.rand(5, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake, weight=10)
    assert float(gp) == pytest.approx(10 * (5 - 1) ** 2)


def test_gradient_penalty_is_finite_positive_and_trains_the_critic():
    torch.manual_seed(0)
    D = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(1),
    )
    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8, requires_grad=True)
    D(real)  # materialise the lazy layer
    gp = gradient_penalty(D, real, fake)
    assert torch.isfinite(gp) and float(gp.detach()) > 0
    gp.backward()
    assert D[0].weight.grad is not None and float(D[0].weight.grad.abs().sum()) > 0
    assert fake.grad is None  # the interpolates are detached from G

    def conditional(x, y, scale):  # extra arguments reach D
        return D(x).flatten() * scale + y

    gp2 = gradient_penalty(conditional, real, fake, torch.zeros(4), 2.0, weight=1.0)
    assert torch.isfinite(gp2)
