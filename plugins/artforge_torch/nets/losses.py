"""Losses: adversarial (vanilla, LSGAN, hinge, WGAN with gradient penalty) and the
style-transfer losses of Gatys et al. 2016 (content, Gram-matrix style, total variation)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "wgan-gp")


class GANLoss(nn.Module):
    """Adversarial losses on raw discriminator logits (any shape: a PatchGAN map is averaged).

    - ``vanilla``: the original GAN (Goodfellow et al. 2014) with the non-saturating G loss:
      binary cross-entropy with logits, targets 1 (real) and 0 (fake).
    - ``lsgan``: least squares (Mao et al. 2017), mean squared error to 1 (real) and 0 (fake).
    - ``hinge``: D: mean relu(1 - real) + mean relu(1 + fake); G: -mean fake (Lim & Ye 2017,
      Miyato et al. 2018).
    - ``wgan-gp`` (alias ``wgan``): D: mean fake - mean real; G: -mean fake (Arjovsky et al.
      2017; add ``gradient_penalty`` for Gulrajani et al. 2017).

    ``d_loss`` halves the vanilla and LSGAN sums, as the pix2pix/CycleGAN reference code
    does ("slows down the rate at which D learns relative to G"); hinge and WGAN are not.
    Called as a module, ``loss(pred, target_is_real)`` is the one-sided term, for code
    written against the CycleGAN ``GANLoss``: ``loss(D(fake), True)`` is the G loss.
    """

    def __init__(self, kind: str = "vanilla"):
        super().__init__()
        if kind == "wgan":
            kind = "wgan-gp"
        if kind not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {kind!r}; use one of {', '.join(GAN_LOSSES)}")
        self.kind = kind

    def forward(
        self, pred: torch.Tensor, target_is_real: bool, for_discriminator: bool = True
    ) -> torch.Tensor:
        pred = pred.float()
        if self.kind == "vanilla":
            target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
            return F.binary_cross_entropy_with_logits(pred, target)
        if self.kind == "lsgan":
            target = torch.ones_like(pred) if target_is_real else torch.zeros_like(pred)
            return F.mse_loss(pred, target)
        if self.kind == "hinge" and for_discriminator:
            return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()
        return -pred.mean() if target_is_real else pred.mean()

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss on real and generated samples."""
        loss = self(real_logits, True) + self(fake_logits, False)
        return 0.5 * loss if self.kind in ("vanilla", "lsgan") else loss

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """The generator's loss: make D call its samples real."""
        return self(fake_logits, True, for_discriminator=False)


def gradient_penalty(
    D, real: torch.Tensor, fake: torch.Tensor, *extra_args, weight: float = 10.0
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): ``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` at
    random interpolates x_hat = a * real + (1 - a) * fake, a ~ U(0, 1) per sample.

    ``extra_args`` are passed on to ``D`` (e.g. class labels). The graph is kept
    (``create_graph``) so the penalty can be backpropagated into D's parameters.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = D(x_hat, *extra_args)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """Gram matrices of (N, C, H, W) features: (N, C, C), each normalised by C*H*W."""
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w).float()
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Total variation: the mean squared difference between vertical neighbours plus that
    between horizontal neighbours (squared, so smooth gradients cost little; mean, so the
    value does not grow with the image size)."""
    dh = img[:, :, 1:, :] - img[:, :, :-1, :]
    dw = img[:, :, :, 1:] - img[:, :, :, :-1]
    return dh.float().pow(2).mean() + dw.float().pow(2).mean()


def content_loss(feats, targets) -> torch.Tensor:
    """Mean squared error between feature maps: two tensors, or two dicts {layer: tensor}
    summed over the layers of ``targets``."""
    if not isinstance(targets, Mapping):
        return F.mse_loss(feats.float(), targets.float().expand_as(feats))
    return sum(
        F.mse_loss(feats[k].float(), t.float().expand_as(feats[k])) for k, t in targets.items()
    )


def style_loss(
    feats: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    weights: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Weighted sum over layers of the squared Frobenius distance between the Gram matrices
    of ``feats`` and ``target_grams`` (each (1, C, C) or (N, C, C)), averaged over the batch.

    With ``gram_matrix``'s C*H*W normalisation this is 4 x Gatys et al.'s E_l per layer.
    Missing weights count 1.
    """
    total = None
    for k, g in target_grams.items():
        w = 1.0 if weights is None else weights.get(k, 1.0)
        f = feats[k]
        diff = gram_matrix(f) - g.float().expand(f.shape[0], -1, -1)
        term = w * diff.pow(2).sum() / f.shape[0]
        total = term if total is None else total + term
    if total is None:
        raise ValueError("style_loss needs at least one target Gram matrix")
    return total
