"""Feed-forward style transfer (Johnson, Alahi & Fei-Fei 2016), the backend-free half: the
random crops the transformation network trains on (the same draws on every backend) and the
bookkeeping of its losses (running means, curves, progress, divergence). A backend's
training loop runs the network and the optimiser and reports each step's losses here."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from artforge.errors import DataError, Diverged

ARCH = "johnson"


class CropSampler:
    """Random ``size`` x ``size`` crops of the content images: the shorter side is scaled to
    between 1 and 1.5 times ``size`` first, and half the crops are mirrored. Drawn from
    ``numpy.random.default_rng(seed)``, so every backend trains on the same crops."""

    def __init__(self, images: list[np.ndarray], size: int, seed: int):
        if not images:
            raise DataError("no content images to train the style network on")
        self.images = [Image.fromarray(np.asarray(i)[..., :3]) for i in images]
        self.size = size
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch: int) -> list[np.ndarray]:
        rng, out = self.rng, []
        for k in rng.integers(0, len(self.images), size=batch):
            im = self.images[k]
            w, h = im.size
            f = self.size * float(rng.uniform(1.0, 1.5)) / min(w, h)
            nw, nh = max(self.size, round(w * f)), max(self.size, round(h * f))
            im2 = im.resize((nw, nh), Image.Resampling.BICUBIC)
            top = int(rng.integers(0, nh - self.size + 1))
            left = int(rng.integers(0, nw - self.size + 1))
            a = np.asarray(im2)[top : top + self.size, left : left + self.size]
            if rng.integers(0, 2):
                a = a[:, ::-1]
            out.append(np.ascontiguousarray(a))
        return out


@dataclass
class TrainStats:
    steps: int
    seconds: float
    content: float
    style: float
    tv: float
    history: list[dict] = field(default_factory=list)
    resumed_from: int = 0


class LossLog:
    """Running means (0.9 / 0.1) of the content, style and TV losses of each training step,
    a curve point every ``log_every`` steps (``on_step(step, content, style, tv)``), the
    progress bar, and :class:`Diverged` at the first non-finite loss."""

    def __init__(
        self,
        steps: int,
        on_step: Callable[[int, float, float, float], None] | None = None,
        progress: Any = None,
        log_every: int = 10,
    ):
        self.steps, self.on_step, self.progress, self.log_every = (
            steps,
            on_step,
            progress,
            log_every,
        )
        self.ema: np.ndarray | None = None
        self.history: list[dict] = []
        self.start = 0
        self.t0 = time.perf_counter()

    def begin(self, start: int) -> None:
        """Training starts (or resumes) after step ``start``."""
        self.start, self.t0 = start, time.perf_counter()

    def finite(self, content: float, style: float, tv: float) -> bool:
        return bool(np.all(np.isfinite([content, style, tv])))

    def diverged(self, step: int) -> Diverged:
        return Diverged(
            f"style network training diverged at step {step} (non-finite loss)",
            hint="lower lr or style_weight",
        )

    def step(self, step: int, content: float, style: float, tv: float) -> None:
        """Record step ``step`` (1-based); raises Diverged on a non-finite loss."""
        vals = np.array([content, style, tv], dtype=np.float64)
        if not np.all(np.isfinite(vals)):
            raise self.diverged(step)
        ema = self.ema = vals if self.ema is None else 0.9 * self.ema + 0.1 * vals
        if step % self.log_every == 0 or step == self.steps:
            self.history.append({"step": step, "content": ema[0], "style": ema[1], "tv": ema[2]})
            if self.on_step is not None:
                self.on_step(step, *map(float, ema))
        if self.progress is not None:
            self.progress.update(1, style=float(ema[1]), content=float(ema[0]))

    def stats(self) -> TrainStats:
        e = self.ema if self.ema is not None else np.array([math.nan] * 3)
        return TrainStats(
            steps=self.steps,
            seconds=time.perf_counter() - self.t0,
            content=float(e[0]),
            style=float(e[1]),
            tv=float(e[2]),
            history=self.history,
            resumed_from=self.start,
        )


@dataclass
class TrainOptions:
    """The settings of a backend's ``train_transformer(loss_net, style, images, *, seed,
    state_path, ..., **options)``: the step's keys (:func:`feed_forward_options`), the
    training curve's callback and progress bar, or a :class:`LossLog` to report to."""

    steps: int = 2000
    batch_size: int = 4
    size: int = 256  # crop edge
    lr: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    config: dict[str, Any] | None = None  # of the transformation network
    save_every: float = 30.0  # seconds between resume states
    on_step: Callable[[int, float, float, float], None] | None = None
    progress: Any = None
    log_every: int = 10
    log: LossLog | None = None

    def __post_init__(self) -> None:
        if self.log is None:
            self.log = LossLog(self.steps, self.on_step, self.progress, self.log_every)


def feed_forward_options(p: Any) -> dict[str, Any]:
    """The :class:`TrainOptions` of a ``stylize`` step's keys."""
    return dict(
        steps=p.steps,
        batch_size=p.batch_size,
        size=p.train_size,
        lr=p.lr or 1e-3,
        content_weight=p.content_weight,
        style_weight=p.style_weight,
        tv_weight=p.tv_weight,
        config={"width": p.width},
    )
