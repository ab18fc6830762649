"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016) in Keras/TensorFlow.

The image ``x`` minimises ``content_weight * L_content + style_weight * L_style + tv_weight *
L_tv`` (losses of :mod:`.loss_net`); it starts from the content image (or noise) and is
optimised by L-BFGS (the paper's choice) or Adam; large images go coarse to fine. The loss
and its gradient are one ``tf.function``; the L-BFGS update is PyTorch's ``LBFGS`` without
line search (history 100, no tolerances, one loss evaluation per iteration, the first step
scaled by min(1, 1/|g|_1)), as the PyTorch backend and the reference implementations use it,
so both backends take the same steps from the same losses.

The content image has zero content loss, so an acceptable result has a weighted total no
larger than the content image's: its content loss is at most (total(content) - style_weight
* L_style - tv_weight * L_tv) / content_weight of the result, the bound reported with it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from artforge.api import Diverged

from ..backend import keras_module
from . import color
from .loss_net import RANGE_WEIGHT, LossNetwork, range_penalty

keras = keras_module()


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
    image: np.ndarray  # 1 x H x W x 3 in [0, 1]
    reference: Losses  # the content image's own losses (finest level)
    final: Losses  # the result's losses (finest level)
    history: list[dict] = field(default_factory=list)
    evaluations: int = 0
    seconds: float = 0.0
    levels: list[tuple[int, int]] = field(default_factory=list)
    _bound: float = math.inf

    @property
    def style_loss_drop(self) -> float:
        if self.reference.style <= 0:
            return 0.0
        return 1.0 - self.final.style / self.reference.style

    @property
    def content_bound(self) -> float:
        return self._bound


def resize_to(x: np.ndarray, size, clamp: bool = True) -> np.ndarray:
    """Bicubic resize of an NHWC batch (antialiased when shrinking), clamped to [0, 1]."""
    import tensorflow as tf

    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[1:3]) == size:
        return x
    shrinking = size[0] < x.shape[1]
    y = tf.image.resize(x, size, method="bicubic", antialias=shrinking).numpy()
    return np.clip(y, 0, 1) if clamp else y


def auto_levels(h: int, w: int, coarsest: int = 256) -> int:
    n, edge = 1, max(h, w)
    while edge > coarsest and n < 6 and min(h, w) / 2**n >= 32:
        edge //= 2
        n += 1
    return n


class LBFGS:
    """``torch.optim.LBFGS(lr, history_size, line_search_fn=None, tolerance_grad=-1,
    tolerance_change=-1)`` on a flat float32 vector: one loss evaluation per iteration."""

    def __init__(self, lr: float = 1.0, history_size: int = 100):
        self.lr, self.history_size = lr, history_size

    def run(
        self, x: np.ndarray, closure: Callable[[np.ndarray], tuple[float, np.ndarray]], evals: int
    ):
        """``closure(x) -> (loss, grad)``; ``evals`` evaluations; returns the last iterate."""
        loss, g = closure(x)
        n = 1
        dirs: list[np.ndarray] = []
        stps: list[np.ndarray] = []
        ro: list[float] = []
        h_diag = 1.0
        d = t = g_prev = None
        it = 0
        while True:
            it += 1
            if it == 1:
                d = -g
            else:
                y = g - g_prev
                s = d * t
                ys = float(np.dot(y, s))
                if ys > 1e-10:
                    if len(dirs) == self.history_size:
                        dirs.pop(0), stps.pop(0), ro.pop(0)
                    dirs.append(y), stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(np.dot(y, y))
                q = -g
                al = [0.0] * len(dirs)
                for i in range(len(dirs) - 1, -1, -1):
                    al[i] = float(np.dot(stps[i], q)) * ro[i]
                    q = q - al[i] * dirs[i]
                r = q * h_diag
                for i in range(len(dirs)):
                    be = float(np.dot(dirs[i], r)) * ro[i]
                    r = r + (al[i] - be) * stps[i]
                d = r
            g_prev = g
            t = min(1.0, 1.0 / float(np.abs(g).sum())) * self.lr if it == 1 else self.lr
            if float(np.dot(g, d)) > 1.0:  # gtd > -tolerance_change
                break
            x = x + t * d
            if it == evals:
                break
            loss, g = closure(x)
            n += 1
            if n >= evals:
                break
        return x


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
        self.steps, self.init, self.scales = steps, init, scales
        self.preserve_color, self.seed = preserve_color, seed
        self._fn = None

    # -- losses ---------------------------------------------------------------------------------
    def _loss_fn(self):
        """One ``tf.function``: (x, content targets, style targets) -> losses and gradient."""
        if self._fn is None:
            import tensorflow as tf

            net, cw, sw, tw = self.net, self.cw, self.sw, self.tw

            @tf.function(reduce_retracing=True)
            def fn(x, content_t, style_t):
                # the losses of the image that will be written (pixels clipped to [0, 1]) plus
                # a pull back into range: L-BFGS works on unconstrained pixels and would
                # otherwise drift out of range, losing the style match once clipped
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    lc, ls, ltv = net.losses(tf.clip_by_value(x, 0.0, 1.0), content_t, style_t)
                    total = cw * lc + sw * ls + tw * ltv + RANGE_WEIGHT * range_penalty(x)
                return lc, ls, ltv, total, tape.gradient(total, x)

            self._fn = fn
        return self._fn

    def evaluate(self, x, content_t, style_t) -> Losses:
        lc, ls, ltv, total, _ = self._loss_fn()(np.asarray(x, np.float32), content_t, style_t)
        return Losses(float(lc), float(ls), float(ltv), float(total))

    # -- one level ------------------------------------------------------------------------------
    def optimise(self, x0: np.ndarray, content_t, style_t, steps: int, on_eval=None) -> np.ndarray:
        """``steps`` loss evaluations of L-BFGS or Adam from ``x0``; the best iterate."""
        fn = self._loss_fn()
        shape = x0.shape
        best = {"total": math.inf, "x": x0.copy()}
        count = [0]

        def closure(flat: np.ndarray):
            x = flat.reshape(shape).astype(np.float32)
            lc, ls, ltv, total, grad = fn(x, content_t, style_t)
            value = float(total)
            if not math.isfinite(value):
                raise Diverged(
                    f"style optimisation diverged after {count[0]} steps: the loss is {value}",
                    hint="lower lr, or use optimiser: lbfgs, or smaller style_weight",
                )
            if value < best["total"]:
                best["total"], best["x"] = value, x.copy()
            count[0] += 1
            if on_eval is not None:
                on_eval(Losses(float(lc), float(ls), float(ltv), value))
            return value, np.asarray(grad, np.float32).reshape(-1)

        if self.optimiser == "lbfgs":
            x = LBFGS(self.lr).run(x0.reshape(-1).astype(np.float32), closure, steps).reshape(shape)
        else:
            opt = keras.optimizers.Adam(self.lr, epsilon=1e-8)
            var = keras.Variable(x0.astype(np.float32), name="image")
            opt.build([var])
            for _ in range(steps):
                _, grad = closure(var.numpy().reshape(-1))
                opt.apply_gradients([(grad.reshape(shape), var)])
                var.assign(np.clip(var.numpy(), 0, 1))
            x = var.numpy()
        last = float(fn(x.astype(np.float32), content_t, style_t)[3])
        if math.isfinite(last) and last < best["total"]:
            best["x"] = x.astype(np.float32)
        return best["x"]

    # -- the whole image -----------------------------------------------------------------------
    def stylize(self, content: np.ndarray, style: np.ndarray, on_eval=None) -> StylizeResult:
        """Stylize ``content`` (1 x H x W x 3 in [0, 1]) with ``style`` (1 x h x w x 3);
        ``on_eval(evaluation, level, losses)`` after every loss evaluation."""
        t0 = time.perf_counter()
        content_rgb = content
        if self.preserve_color:
            cy = color.luminance(content)
            sy = color.match_luminance(color.luminance(style), cy)
            content, style = color.gray3(cy), color.gray3(sy)
        h, w = content.shape[1:3]
        n = self.scales or auto_levels(h, w)
        levels = []
        for k in range(n):
            f = 2.0 ** (k - n + 1)
            levels.append((max(8, round(h * f)), max(8, round(w * f))))
        sh, sw_ = style.shape[1:3]
        history: list[dict] = []
        evals = [0]
        x = None
        rng = np.random.default_rng(self.seed)
        for lvl, size in enumerate(levels):
            f = size[0] / h
            c = resize_to(content, size)
            s = resize_to(style, (max(8, round(sh * f)), max(8, round(sw_ * f))))
            ct = self.net.content_targets(c)
            st = self.net.style_targets(s)
            if x is None:
                x0 = rng.random(c.shape, dtype=np.float32) if self.init == "noise" else c
            else:
                x0 = resize_to(x, size)

            def cb(losses: Losses, lvl=lvl):
                evals[0] += 1
                history.append({"eval": evals[0], "level": lvl, **losses.as_dict()})
                if on_eval is not None:
                    on_eval(evals[0], lvl, losses)

            x = np.clip(self.optimise(np.asarray(x0, np.float32), ct, st, self.steps, cb), 0, 1)
        reference = self.evaluate(c, ct, st)
        final = self.evaluate(x, ct, st)
        out = color.combine(color.luminance(x), content_rgb) if self.preserve_color else x
        res = StylizeResult(
            image=out,
            reference=reference,
            final=final,
            history=history,
            evaluations=evals[0],
            seconds=time.perf_counter() - t0,
            levels=levels,
        )
        spare = reference.total - self.sw * final.style - self.tw * final.tv
        res._bound = spare / self.cw if self.cw > 0 else math.inf
        return res
