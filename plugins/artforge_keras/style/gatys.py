"""Optimisation-based style transfer (Gatys, Ecker & Bethge 2016) in Keras/TensorFlow: the
tensor code of :class:`artforge.style.gatys.CoarseToFine`; the coarse-to-fine driver, the
results and the content-loss bound are the core's.

The loss and its gradient are one ``tf.function``; the L-BFGS update is PyTorch's ``LBFGS``
without line search (history 100, no tolerances, one loss evaluation per iteration, the first
step scaled by min(1, 1/|g|_1)), as the PyTorch backend and the reference implementations use
it, so both backends take the same steps from the same losses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from artforge.api import Diverged
from artforge.style.gatys import CoarseToFine, Losses, StylizeResult, auto_levels

from ..backend import keras_module
from . import color
from .images import resize_to
from .loss_net import RANGE_WEIGHT, range_penalty

keras = keras_module()

__all__ = ["LBFGS", "GatysOptimiser", "Losses", "StylizeResult", "auto_levels", "resize_to"]


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


class GatysOptimiser(CoarseToFine):
    """Stylize one image (1 x H x W x 3 in [0, 1]) by optimising its pixels (registered as
    style-optimiser ``gatys``)."""

    color = color
    _fn = None

    def hw(self, x: np.ndarray) -> tuple[int, int]:
        return tuple(x.shape[1:3])

    def resize(self, x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        return resize_to(x, size)

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0, 1)

    def noise_source(self, seed: int) -> np.random.Generator:
        return np.random.default_rng(seed)

    def noise(self, source: np.random.Generator, like: np.ndarray) -> np.ndarray:
        return source.random(like.shape, dtype=np.float32)

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
        x0 = np.asarray(x0, np.float32)
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
