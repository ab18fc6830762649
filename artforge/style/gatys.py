"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016): the coarse-to-fine driver,
the same on every backend.

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

A backend subclasses :class:`CoarseToFine` with the tensor code: ``optimise`` (one level of
L-BFGS or Adam), ``evaluate`` (the losses of an image), and the image operations ``hw``,
``resize``, ``clip``, ``noise`` and the colour-preservation ones (``luminance``,
``match_luminance``, ``gray3``, ``combine``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
    image: Any  # the backend's [0, 1] image batch of one
    reference: Losses  # the content image's own losses (finest level)
    final: Losses  # the result's losses (finest level, after clipping to [0, 1])
    history: list[dict] = field(default_factory=list)  # per evaluation: level, losses
    evaluations: int = 0
    seconds: float = 0.0
    levels: list[tuple[int, int]] = field(default_factory=list)  # (height, width) per level
    _bound: float = math.inf

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


def auto_levels(h: int, w: int, coarsest: int = 256) -> int:
    """Levels so that the coarsest has a longer edge of at most ``coarsest`` pixels."""
    n, edge = 1, max(h, w)
    while edge > coarsest and n < 6 and min(h, w) / 2**n >= 32:
        edge //= 2
        n += 1
    return n


def level_sizes(h: int, w: int, n: int) -> list[tuple[int, int]]:
    """(height, width) of ``n`` levels, each twice the previous, the last ``h`` x ``w``."""
    return [
        (max(8, round(h * 2.0 ** (k - n + 1))), max(8, round(w * 2.0 ** (k - n + 1))))
        for k in range(n)
    ]


class CoarseToFine:
    """Stylize one image by optimising its pixels (registered as style-optimiser ``gatys``)."""

    def __init__(
        self,
        loss_net: Any,
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
        self.steps, self.init, self.scales = steps, init, scales
        self.preserve_color, self.seed = preserve_color, seed

    # -- the backend's tensor code ---------------------------------------------------------------
    def optimise(self, x0: Any, content_t: Any, style_t: Any, steps: int, on_eval=None) -> Any:
        """``steps`` loss evaluations of L-BFGS or Adam from ``x0``; the best iterate."""
        raise NotImplementedError

    def evaluate(self, x: Any, content_t: Any, style_t: Any) -> Losses:
        raise NotImplementedError

    def hw(self, x: Any) -> tuple[int, int]:
        raise NotImplementedError

    def resize(self, x: Any, size: tuple[int, int]) -> Any:
        raise NotImplementedError

    def clip(self, x: Any) -> Any:
        raise NotImplementedError

    def noise_source(self, seed: int) -> Any:
        raise NotImplementedError

    def noise(self, source: Any, like: Any) -> Any:
        raise NotImplementedError

    def finish(self, x: Any) -> Any:
        """The result as it is returned (e.g. detached from the graph)."""
        return x

    color: Any = None  # a module with luminance, match_luminance, gray3, combine

    # -- the whole image -----------------------------------------------------------------------
    def stylize(
        self, content: Any, style: Any, on_eval: Callable[[int, int, Losses], None] | None = None
    ) -> StylizeResult:
        """Stylize ``content`` with ``style`` (the backend's [0, 1] batches of one);
        ``on_eval(evaluation, level, losses)`` is called after every loss evaluation."""
        t0 = time.perf_counter()
        content_rgb = content
        col = self.color
        if self.preserve_color:
            cy = col.luminance(content)
            sy = col.match_luminance(col.luminance(style), cy)
            content, style = col.gray3(cy), col.gray3(sy)
        h, w = self.hw(content)
        levels = level_sizes(h, w, self.scales or auto_levels(h, w))
        sh, sw_ = self.hw(style)
        history: list[dict] = []
        evals = [0]
        x = None
        source = self.noise_source(self.seed)
        for lvl, size in enumerate(levels):
            f = size[0] / h
            c = self.resize(content, size)
            s = self.resize(style, (max(8, round(sh * f)), max(8, round(sw_ * f))))
            ct = self.net.content_targets(c)
            st = self.net.style_targets(s)
            if x is None:
                x0 = self.noise(source, c) if self.init == "noise" else c
            else:
                x0 = self.resize(x, size)

            def cb(losses: Losses, lvl=lvl):
                evals[0] += 1
                history.append({"eval": evals[0], "level": lvl, **losses.as_dict()})
                if on_eval is not None:
                    on_eval(evals[0], lvl, losses)

            x = self.clip(self.optimise(x0, ct, st, self.steps, cb))
        reference = self.evaluate(c, ct, st)
        final = self.evaluate(x, ct, st)
        out = col.combine(col.luminance(x), content_rgb) if self.preserve_color else x
        res = StylizeResult(
            image=self.finish(out),
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


def gatys_options(p: Any) -> dict[str, Any]:
    """The keyword arguments of a GatysOptimiser from the step's keys."""
    return dict(
        content_weight=p.content_weight,
        style_weight=p.style_weight,
        tv_weight=p.tv_weight,
        optimiser=p.optimiser,
        lr=p.lr,
        steps=p.steps,
        init=p.init,
        scales=p.scales,
        preserve_color=p.preserve_color,
    )
