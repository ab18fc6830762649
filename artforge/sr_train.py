"""Super-resolution training, once for every backend (numpy only).

* :class:`PairSampler`: random aligned (low, high) patch batches of high-resolution images,
  degraded on the fly (``sr_baselines.random_pair``: optional blur, bicubic downscale,
  optional noise and JPEG, a random flip and 90-degree rotation). Batch ``i`` is a pure
  function of ``derive_seed(seed, "sr-batch", i)``, so both backends see the same patches for
  the same step seed, a resumed run sees the batches it would have seen, and batches can be
  made ahead of time: :meth:`PairSampler.batches` prefetches them on a background thread.
* :func:`zero_shot_fathers`: the "HR fathers" of zero-shot SR (Shocher et al. 2018).
* :func:`train_sr`: the training loop. Iterations, the learning rate (cosine-annealed to 1%
  of its start, :func:`cosine_lr`), the divergence guard, the loss curve (an exponential
  moving average of the batch losses, recorded every ``log_every`` steps), the progress bar,
  ``max_seconds``, and the checkpoint cadence and resume. The tensor work is a backend's
  *training session* (:class:`TrainSession`): one optimiser step per batch, its state saved
  and loaded, and the averaged weights put into the network at the end.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import DataError, Diverged
from .images import resize
from .seeding import derive_seed
from .sr_baselines import random_pair


class PairSampler:
    """Random aligned (low, high) uint8 patch batches from a list of images.

    Args:
        images: high-resolution uint8 images (greyscale is repeated to RGB).
        scale: the upscaling factor.
        patch: the high-resolution patch edge (shrunk to the smallest image, then rounded
            down to a multiple of ``scale``).
        seed: the step seed; batch ``i`` is drawn from ``derive_seed(seed, "sr-batch", i)``.
        blur, noise, jpeg: the degradation (:class:`artforge.schemas.sr.Degradation`).
        weights: how often each image is drawn (default: its area).
        what: the images, for error messages.
    """

    def __init__(
        self,
        images: list[np.ndarray],
        scale: int,
        patch: int,
        seed: int,
        *,
        blur: float = 0.0,
        noise: float = 0.0,
        jpeg: int | None = None,
        weights: list[float] | None = None,
        what: str = "training images",
    ):
        if not images:
            raise DataError(f"no {what} to train on")
        images = [np.repeat(i[..., None], 3, -1) if i.ndim == 2 else i[..., :3] for i in images]
        smallest = min(min(i.shape[:2]) for i in images)
        patch = min(patch, smallest)
        patch -= patch % scale
        if patch < 2 * scale:
            raise DataError(
                f"{what}: the smallest image is {smallest} pixels, too small for x{scale} "
                "training patches",
                hint="use larger training images or a smaller scale",
            )
        self.images, self.scale, self.patch, self.seed = images, scale, patch, seed
        self.kw = {"blur": blur, "noise": noise, "jpeg": jpeg}
        area = np.array(
            weights if weights is not None else [i.shape[0] * i.shape[1] for i in images],
            dtype=np.float64,
        )
        self.p = area / area.sum()

    def batch(self, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``index``: (low N x h x w x 3, high N x h*s x w*s x 3), uint8."""
        rng = np.random.default_rng(derive_seed(self.seed, "sr-batch", index))
        lows, highs = [], []
        for k in rng.choice(len(self.images), size=size, p=self.p):
            lo, hi = random_pair(self.images[k], self.scale, self.patch, rng, **self.kw)
            lows.append(lo)
            highs.append(hi)
        return np.stack(lows), np.stack(highs)

    def batches(
        self, start: int, stop: int, size: int, prefetch: int = 3
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches ``start`` .. ``stop - 1`` in order, made up to ``prefetch`` ahead on a
        background thread (Pillow and numpy release the GIL, so the patches of the next
        batches are cut while the network trains on this one). ``prefetch=0``: no thread."""
        if prefetch <= 0:
            for i in range(start, stop):
                yield self.batch(i, size)
            return
        q: queue.Queue = queue.Queue(maxsize=prefetch)
        stop_now = threading.Event()

        def work() -> None:
            for i in range(start, stop):
                try:
                    item: Any = self.batch(i, size)
                except BaseException as exc:  # handed to the consumer, raised there
                    item = exc
                while not stop_now.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop_now.is_set() or isinstance(item, BaseException):
                    return

        thread = threading.Thread(target=work, name="sr-batches", daemon=True)
        thread.start()
        try:
            for _ in range(start, stop):
                item = q.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop_now.set()
            thread.join()


def zero_shot_fathers(
    image: np.ndarray, scale: int, min_size: int, factors: int = 6
) -> tuple[list[np.ndarray], list[float]]:
    """The test image and down-scaled copies of it (factors 1, 0.9, ... down to 0.5),
    keeping those whose shorter side is at least ``min_size``; sampling weights favour the
    larger fathers, which resemble the test image's own scale most (as in ZSSR)."""
    h, w = image.shape[:2]
    fathers, weights = [], []
    for k in range(factors):
        f = 1.0 - 0.1 * k
        size = (max(1, round(w * f)), max(1, round(h * f)))
        if min(size) < min_size:
            break
        fathers.append(image if k == 0 else resize(image, size, "bicubic"))
        weights.append(f * f)
    if not fathers:
        raise DataError(
            f"zero-shot SR: a {w}x{h} image is too small to learn x{scale} from itself",
            hint="give a training set with `train:` or use a larger image",
        )
    return fathers, weights


def cosine_lr(lr: float, step: int, steps: int, floor: float = 0.01) -> float:
    """The learning rate of step ``step`` (0-based) of ``steps``: a cosine from ``lr`` down to
    ``floor * lr`` (torch's ``CosineAnnealingLR(eta_min=lr * floor)``, Keras' ``CosineDecay(
    alpha=floor)``)."""
    t = min(step, steps) / max(1, steps)
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t)))


def ema_decay_for(steps: int, decay: float | None = 0.999) -> float | None:
    """The weight-averaging decay: short runs average over about their last tenth."""
    return min(decay, 1.0 - 10.0 / max(steps, 20)) if decay else None


class TrainSession(Protocol):
    """What a backend supplies to train one SR network (built by its runtime's ``session``).

    ``step(lo, hi, lr)``: one optimiser step at learning rate ``lr`` on a uint8 batch (low
    N x h x w x 3, high N x h*s x w*s x 3); returns the batch loss as a float.
    ``save(path, state)``: the network, optimiser and averages with ``state`` (a small dict)
    written atomically. ``load(path)``: restore them and return ``state``, or None when there
    is no usable file. ``finish()``: put the averaged weights into the network (eval mode).
    """

    def step(self, lo: np.ndarray, hi: np.ndarray, lr: float) -> float: ...

    def save(self, path: Path, state: dict[str, Any]) -> None: ...

    def load(self, path: Path) -> dict[str, Any] | None: ...

    def finish(self) -> None: ...


@dataclass
class TrainResult:
    steps: int
    seconds: float
    final_loss: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from: int = 0


def train_sr(
    session: TrainSession,
    sampler: PairSampler,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    record: Callable[[str, float, float], None] | None = None,
    progress: Any = None,
    max_seconds: float | None = None,
    state_path: Path | None = None,
    save_every: float = 30.0,
    log_every: int = 10,
    prefix: str = "",
    prefetch: int = 3,
) -> TrainResult:
    """Train the session's network on ``sampler``'s batches for ``steps`` iterations; resume
    from ``state_path`` when it holds a state of the same length (written every
    ``save_every`` seconds); at the end the network holds the averaged weights."""
    start = 0
    if state_path is not None and Path(state_path).is_file():
        state = session.load(Path(state_path))
        if state and state.get("steps") == steps:
            start = min(int(state.get("step", 0)), steps)
    t0 = time.perf_counter()
    last_save = t0
    ema: float | None = None
    losses: list[tuple[int, float]] = []
    done, stopped = start, False
    for step, (lo, hi) in enumerate(sampler.batches(start, steps, batch_size, prefetch), start):
        value = float(session.step(lo, hi, cosine_lr(lr, step, steps)))
        done = step + 1
        if not math.isfinite(value):
            raise Diverged(
                f"super-resolution training diverged at step {done}: the loss is {value}",
                hint="lower lr, or use loss: l1",
            )
        ema = value if ema is None else 0.95 * ema + 0.05 * value
        if done % log_every == 0 or done == steps:
            losses.append((done, ema))
            if record is not None:
                record(f"{prefix}loss", done, ema)
        if progress is not None:
            progress.update(1, loss=ema)
        now = time.perf_counter()
        if state_path is not None and now - last_save > save_every:
            session.save(Path(state_path), {"step": done, "steps": steps})
            last_save = now
        if max_seconds is not None and now - t0 > max_seconds:
            stopped = done < steps
            break
    session.finish()
    return TrainResult(
        steps=done,
        seconds=time.perf_counter() - t0,
        final_loss=float(ema) if ema is not None else float("nan"),
        losses=losses,
        stopped_early=stopped,
        resumed_from=start,
    )
