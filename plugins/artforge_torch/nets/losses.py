"""Losses: adversarial (vanilla, LSGAN, hinge, WGAN with gradient penalty) and the
style-transfer losses of Gatys et al. 2016 (content, Gram-matrix style, total variation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "wgan-gp")


class GANLoss:
    """Adversarial losses on raw discriminator logits.

    - ``vanilla``: the original minimax GAN with the non-saturating G loss (BCE with logits).
    - ``lsgan``: least squares (Mao et al. 2017), targets 1 for real and 0 for fake.
    - ``hinge``: D: relu(1 - real) + relu(1 + fake); G: -fake (Lim & Ye 2017, SAGAN).
    - ``wgan-gp``/``wgan``: D: fake - real; G: -fake (add ``gradient_penalty`` for GP).
    """

    def __init__(self, kind: str = "vanilla"):
        if kind == "wgan":
            kind = "wgan-gp"
        if kind not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {kind!r}; use one of {', '.join(GAN_LOSSES)}")
        self.kind = kind

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real, fake = real.float(), fake.float()
        if self.kind == "vanilla":
            return 0.5 * (
                F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            )
        if self.kind == "lsgan":
            return 0.5 * (
                F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake))
            )
        if self.kind == "hinge":
            return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
        return fake.mean() - real.mean()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        fake = fake.float()
        if self.kind == "vanilla":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if self.kind == "lsgan":
            return F.mse_loss(fake, torch.ones_like(fake))
        return -fake.mean()


def gradient_penalty(
    D, real: torch.Tensor, fake: torch.Tensor, *extra, weight: float = 10.0
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(||grad D(x_hat)|| - 1)^2] on interpolates."""
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = D(x_hat, *extra)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """Gram matrix of (N, C, H, W) features, normalised by C*H*W: (N, C, C)."""
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w).float()
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of horizontal and vertical neighbours."""
    dh = img[:, :, 1:, :] - img[:, :, :-1, :]
    dw = img[:, :, :, 1:] - img[:, :, :, :-1]
    return dh.pow(2).mean() + dw.pow(2).mean()


def content_loss(feats: dict, targets: dict) -> torch.Tensor:
    """Mean squared error between feature maps, summed over layers."""
    return sum(F.mse_loss(feats[k].float(), targets[k].float()) for k in targets)


def style_loss(feats: dict, target_grams: dict, weights: dict | None = None) -> torch.Tensor:
    """Squared Frobenius distance of Gram matrices, a weighted sum over layers."""
    total = 0.0
    for k, g in target_grams.items():
        w = 1.0 if weights is None else weights.get(k, 1.0)
        total = (
            total
            + w
            * F.mse_loss(
                gram_matrix(feats[k]), g.expand(feats[k].shape[0], -1, -1), reduction="sum"
            )
            / feats[k].shape[0]
        )
    return total
