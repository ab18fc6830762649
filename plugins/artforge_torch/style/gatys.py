"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016) on PyTorch: the tensor code
of :class:`artforge.style.gatys.CoarseToFine` (one level of L-BFGS or Adam, the losses, image
resizing and colour preservation); the coarse-to-fine driver, the results and the
content-loss bound are the core's."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from artforge.api import Diverged
from artforge.style.gatys import CoarseToFine, Losses, StylizeResult, auto_levels

from . import color
from .loss_net import RANGE_WEIGHT, range_penalty

__all__ = ["GatysOptimiser", "Losses", "StylizeResult", "auto_levels", "resize_to"]


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2]
    return F.interpolate(
        x, size=size, mode="bicubic", align_corners=False, antialias=shrinking
    ).clamp(0, 1)


class GatysOptimiser(CoarseToFine):
    """Stylize one image (1 x 3 x H x W in [0, 1]) by optimising its pixels (registered as
    style-optimiser ``gatys``)."""

    color = color

    def hw(self, x: torch.Tensor) -> tuple[int, int]:
        return tuple(x.shape[-2:])

    def resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return resize_to(x, size)

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1)

    def noise_source(self, seed: int) -> torch.Generator:
        return torch.Generator(device="cpu").manual_seed(seed)

    def noise(self, source: torch.Generator, like: torch.Tensor) -> torch.Tensor:
        return torch.rand(like.shape, generator=source).to(like)

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach()

    # -- losses ---------------------------------------------------------------------------------
    def _weighted(self, x, content_t, style_t):
        # The losses of the image that will be written (pixels clipped to [0, 1]) plus a
        # penalty that pulls out-of-range pixels back: L-BFGS works on unconstrained pixels,
        # and without this it drifts out of range and the clipped result loses much of the
        # style match it reached.
        lc, ls, ltv = self.net.losses(x.clamp(0, 1), content_t, style_t)
        total = self.cw * lc + self.sw * ls + self.tw * ltv + RANGE_WEIGHT * range_penalty(x)
        return lc, ls, ltv, total

    def evaluate(self, x, content_t, style_t) -> Losses:
        with torch.no_grad():
            lc, ls, ltv, total = self._weighted(x, content_t, style_t)
        return Losses(float(lc), float(ls), float(ltv), float(total))

    # -- one level ------------------------------------------------------------------------------
    def optimise(
        self,
        x0: torch.Tensor,
        content_t: dict[str, torch.Tensor],
        style_t: dict[str, torch.Tensor],
        steps: int,
        on_eval: Callable[[Losses], None] | None = None,
    ) -> torch.Tensor:
        """Run ``steps`` loss evaluations of L-BFGS or Adam from ``x0``; the best iterate."""
        x = x0.detach().clone().contiguous().requires_grad_(True)
        best = {"total": math.inf, "x": x0.detach().clone()}
        count = [0]

        def closure():
            if opt is not None:
                opt.zero_grad(set_to_none=True)
            lc, ls, ltv, total = self._weighted(x, content_t, style_t)
            total.backward()
            value = float(total.detach())
            if not math.isfinite(value):
                raise Diverged(
                    f"style optimisation diverged after {count[0]} steps: the loss is {value}",
                    hint="lower lr, or use optimiser: lbfgs, or smaller style_weight",
                )
            if value < best["total"]:
                best["total"] = value
                best["x"] = x.detach().clone()
            count[0] += 1
            if on_eval is not None:
                on_eval(Losses(float(lc.detach()), float(ls.detach()), float(ltv.detach()), value))
            return total

        if self.optimiser == "lbfgs":
            # No line search and no tolerances: one loss evaluation per iteration, as in
            # the reference implementations (Gatys' Caffe code, jcjohnson/neural-style).
            opt = torch.optim.LBFGS(
                [x],
                lr=self.lr,
                max_iter=steps,
                max_eval=steps,
                history_size=100,
                tolerance_grad=-1.0,
                tolerance_change=-1.0,
            )
            while count[0] < steps:
                before = count[0]
                opt.step(closure)
                if count[0] == before:
                    break
        else:
            opt = torch.optim.Adam([x], lr=self.lr)
            for _ in range(steps):
                opt.step(closure)
                with torch.no_grad():
                    x.clamp_(0, 1)
        # Both optimisers update x after their last evaluation: score that iterate too.
        with torch.no_grad():
            last = float(self._weighted(x, content_t, style_t)[3])
        if math.isfinite(last) and last < best["total"]:
            best["x"] = x.detach().clone()
        return best["x"]
