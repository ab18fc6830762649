"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016).

The image ``x`` minimises ``content_weight * L_content + style_weight * L_style +
tv_weight * L_tv``: the content loss compares feature maps of ``x`` and the content image
(default layer conv4_2), the style loss compares Gram matrices of ``x``'s and the style
image's features (default conv1_1 ... conv5_1, equal weights), and the total-variation loss
keeps the result smooth. ``x`` starts from the content image (or noise) and is optimised by
L-BFGS (the paper's choice) or Adam. Large images are done coarse to fine: each level
starts from the previous level's result, upsampled.

Because the content image itself has zero content loss, an acceptable result has a weighted
total no larger than the content image's, so its content loss is at most (total(content) -
style_weight * L_style - tv_weight * L_tv) / content_weight, all of the result: the
content-loss bound the weights set, reported with the results.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from artforge.api import Diverged

from . import color
from .loss_net import RANGE_WEIGHT, LossNetwork, range_penalty


@dataclass
class Losses:
    content: float
    style: float
    tv: float
    total: float

    def as_dict(self) -> dict[str, float]:
        return {"content": self.content, "style": self.style, "tv": self.tv, "total": self.total}


@dataclass
class StylizeResult:
    image: torch.Tensor  # 1 x 3 x H x W in [0, 1]
    reference: Losses  # the content image's own losses (finest level)
    final: Losses  # the result's losses (finest level, after clamping to [0, 1])
    history: list[dict] = field(default_factory=list)  # per evaluation: level, losses
    evaluations: int = 0
    seconds: float = 0.0
    levels: list[tuple[int, int]] = field(default_factory=list)  # (height, width) per level

    @property
    def style_loss_drop(self) -> float:
        """Fraction of the content image's style loss removed by the optimisation."""
        if self.reference.style <= 0:
            return 0.0
        return 1.0 - self.final.style / self.reference.style

    @property
    def content_bound(self) -> float:
        """The content loss the weights allow the result: an optimiser may only accept an
        image whose weighted total is at most the content image's own (whose content loss is
        zero), so ``cw * Lc <= total(content) - sw * Ls - tw * TV`` of the result."""
        return self._bound

    _bound: float = math.inf


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2]
    return F.interpolate(
        x, size=size, mode="bicubic", align_corners=False, antialias=shrinking
    ).clamp(0, 1)


def auto_levels(h: int, w: int, coarsest: int = 256) -> int:
    """Levels so that the coarsest has a longer edge of at most ``coarsest`` pixels."""
    n, edge = 1, max(h, w)
    while edge > coarsest and n < 6 and min(h, w) / 2**n >= 32:
        edge //= 2
        n += 1
    return n


class GatysOptimiser:
    """Stylize one image by optimising its pixels (registered as style-optimiser ``gatys``)."""

    def __init__(
        self,
        loss_net: LossNetwork,
        *,
        content_weight: float = 1.0,
        style_weight: float = 10.0,
        tv_weight: float = 1.0,
        optimiser: str = "lbfgs",
        lr: float | None = None,
        steps: int = 200,
        init: str = "content",
        scales: int | None = 1,
        preserve_color: bool = False,
        seed: int = 0,
    ):
        if optimiser not in ("lbfgs", "adam"):
            raise ValueError(f"unknown optimiser {optimiser!r}")
        self.net = loss_net
        self.cw, self.sw, self.tw = content_weight, style_weight, tv_weight
        self.optimiser = optimiser
        self.lr = lr if lr is not None else (1.0 if optimiser == "lbfgs" else 0.02)
        self.steps = steps
        self.init = init
        self.scales = scales
        self.preserve_color = preserve_color
        self.seed = seed

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

    # -- the whole image -----------------------------------------------------------------------
    def stylize(
        self,
        content: torch.Tensor,
        style: torch.Tensor,
        on_eval: Callable[[int, int, Losses], None] | None = None,
    ) -> StylizeResult:
        """Stylize ``content`` (1 x 3 x H x W in [0, 1]) with ``style`` (1 x 3 x h x w).

        ``on_eval(evaluation, level, losses)`` is called after every loss evaluation.
        """
        t0 = time.perf_counter()
        content_rgb = content
        if self.preserve_color:
            cy = color.luminance(content)
            sy = color.match_luminance(color.luminance(style), cy)
            content, style = color.gray3(cy), color.gray3(sy)
        h, w = content.shape[-2:]
        n = self.scales or auto_levels(h, w)
        levels = []
        for k in range(n):
            f = 2.0 ** (k - n + 1)
            levels.append((max(8, round(h * f)), max(8, round(w * f))))
        sh, sw_ = style.shape[-2:]
        history: list[dict] = []
        evals = [0]
        x = None
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        for lvl, size in enumerate(levels):
            f = size[0] / h
            c = resize_to(content, size)
            s = resize_to(style, (max(8, round(sh * f)), max(8, round(sw_ * f))))
            ct = self.net.content_targets(c)
            st = self.net.style_targets(s)
            if x is None:
                if self.init == "noise":
                    x0 = torch.rand(c.shape, generator=gen).to(c)
                else:
                    x0 = c
            else:
                x0 = resize_to(x, size)

            def cb(losses: Losses, lvl=lvl):
                evals[0] += 1
                history.append({"eval": evals[0], "level": lvl, **losses.as_dict()})
                if on_eval is not None:
                    on_eval(evals[0], lvl, losses)

            x = self.optimise(x0, ct, st, self.steps, cb).clamp(0, 1)
        reference = self.evaluate(c, ct, st)
        final = self.evaluate(x, ct, st)
        out = x
        if self.preserve_color:
            out = color.combine(color.luminance(x), content_rgb)
        res = StylizeResult(
            image=out.detach(),
            reference=reference,
            final=final,
            history=history,
            evaluations=evals[0],
            seconds=time.perf_counter() - t0,
            levels=levels,
        )
        # total(result) <= total(content image), and the content image has no content loss:
        # cw * Lc(result) <= total(content) - sw * Ls(result) - tw * TV(result)
        spare = reference.total - self.sw * final.style - self.tw * final.tv
        res._bound = spare / self.cw if self.cw > 0 else math.inf
        return res
