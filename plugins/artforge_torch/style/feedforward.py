"""Fast (feed-forward) style transfer (Johnson, Alahi & Fei-Fei 2016).

An image-transformation network (``artforge_torch.nets.transformer.TransformerNet``:
strided convolutions, residual blocks, instance normalisation, upsampling) is trained for
one style with the perceptual losses of :mod:`.gatys` (content, Gram-matrix style, total
variation) on random crops of a set of content images; it then stylizes any image in one
forward pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from artforge.api import DataError, Diverged, StepError

from ..training.checkpoint import foreign
from .loss_net import RANGE_WEIGHT, LossNetwork, range_penalty
from .util import batch_to_tensor, load_safetensors, load_state, save_state, to_image, to_tensor

ARCH = "johnson"


def build_transformer(config: dict[str, Any] | None = None) -> torch.nn.Module:
    from ..nets.transformer import TransformerNet

    return TransformerNet(**(config or {}))


class CropSampler:
    """Random ``size`` x ``size`` crops of the content images: the shorter side is scaled to
    between 1 and 1.5 times ``size`` first, and half the crops are mirrored."""

    def __init__(self, images: list[np.ndarray], size: int, seed: int):
        if not images:
            raise DataError("no content images to train the style network on")
        self.images = [Image.fromarray(np.asarray(i)[..., :3]) for i in images]
        self.size = size
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, batch: int) -> list[np.ndarray]:
        out = []
        for k in self.rng.integers(0, len(self.images), size=batch):
            im = self.images[k]
            w, h = im.size
            short = self.size * float(self.rng.uniform(1.0, 1.5))
            f = short / min(w, h)
            nw, nh = max(self.size, round(w * f)), max(self.size, round(h * f))
            im2 = im.resize((nw, nh), Image.Resampling.BICUBIC)
            top = int(self.rng.integers(0, nh - self.size + 1))
            left = int(self.rng.integers(0, nw - self.size + 1))
            a = np.asarray(im2)[top : top + self.size, left : left + self.size]
            if self.rng.integers(0, 2):
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


def train_transformer(
    loss_net: LossNetwork,
    style: torch.Tensor,
    images: list[np.ndarray],
    *,
    steps: int = 2000,
    batch_size: int = 4,
    size: int = 256,
    lr: float = 1e-3,
    content_weight: float = 1.0,
    style_weight: float = 10.0,
    tv_weight: float = 1.0,
    config: dict[str, Any] | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    on_step: Callable[[int, float, float, float], None] | None = None,
    progress=None,
    state_path: Path | None = None,
    save_every: float = 30.0,
    log_every: int = 10,
) -> tuple[torch.nn.Module, TrainStats]:
    """Train a transformation network for ``style`` (1 x 3 x h x w in [0, 1])."""
    device = torch.device(device)
    torch.manual_seed(seed)
    net = build_transformer(config).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sampler = CropSampler(images, size, seed)
    style_t = loss_net.style_targets(style.to(device))
    start = 0
    state = load_state(state_path) if state_path else None
    if state and state.get("steps") == steps:
        try:
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["opt"])
            start = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise foreign(state_path, exc) from exc
    sampler.reseed(seed + start)
    t0 = time.perf_counter()
    last_save = t0
    ema = None
    history: list[dict] = []
    for step in range(start, steps):
        x = batch_to_tensor(sampler(batch_size), device)
        content_t = loss_net.content_targets(x)
        y = net(x)
        # losses of the clipped output (what is written), plus a pull back into range
        lc, ls, ltv = loss_net.losses(y.clamp(0, 1), content_t, style_t)
        total = content_weight * lc + style_weight * ls + tv_weight * ltv
        total = total + RANGE_WEIGHT * range_penalty(y)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        vals = np.array([float(lc.detach()), float(ls.detach()), float(ltv.detach())])
        if not np.all(np.isfinite(vals)):
            raise Diverged(
                f"style network training diverged at step {step + 1} (non-finite loss)",
                hint="lower lr or style_weight",
            )
        ema = vals if ema is None else 0.9 * ema + 0.1 * vals
        if (step + 1) % log_every == 0 or step + 1 == steps:
            history.append({"step": step + 1, "content": ema[0], "style": ema[1], "tv": ema[2]})
            if on_step is not None:
                on_step(step + 1, *map(float, ema))
        if progress is not None:
            progress.update(1, style=float(ema[1]), content=float(ema[0]))
        now = time.perf_counter()
        if state_path is not None and now - last_save > save_every:
            save_state(
                state_path,
                {
                    "step": step + 1,
                    "steps": steps,
                    "net": net.state_dict(),
                    "opt": opt.state_dict(),
                },
            )
            last_save = now
    net.eval()
    e = ema if ema is not None else np.array([math.nan] * 3)
    stats = TrainStats(
        steps=steps,
        seconds=time.perf_counter() - t0,
        content=float(e[0]),
        style=float(e[1]),
        tv=float(e[2]),
        history=history,
        resumed_from=start,
    )
    return net, stats


def load_transformer(path: Path, what: str, device) -> tuple[torch.nn.Module, dict[str, Any]]:
    tensors, meta = load_safetensors(path)
    if meta.get("arch") != ARCH:
        raise StepError(
            f"{what} is not a feed-forward style network (it holds {meta.get('arch') or 'no artforge metadata'})",
            hint="give the model output of a stylize step with method: feed-forward",
        )
    net = build_transformer(meta.get("config"))
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise StepError(f"{what} does not fit the transformation network: {exc}") from None
    return net.to(device).eval(), meta


def stylize_image(net: torch.nn.Module, img: np.ndarray, device) -> np.ndarray:
    """One forward pass in inference mode; uint8 in, uint8 out (same size). channels_last
    on CUDA only: on the CPU it measured slower for this network."""
    device = torch.device(device)
    with torch.inference_mode():
        x = to_tensor(img, device)
        if device.type == "cuda":
            net = net.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        y = net(x)
        if y.shape[-2:] != x.shape[-2:]:
            y = torch.nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear")
        return to_image(y)


class FeedForwardStyle:
    """The registered ``johnson`` style optimiser: ``fit`` once, ``stylize`` many times."""

    def __init__(self, loss_net: LossNetwork, device="cpu", **train_kw):
        self.loss_net = loss_net
        self.device = torch.device(device)
        self.train_kw = train_kw
        self.net: torch.nn.Module | None = None
        self.stats: TrainStats | None = None

    def fit(self, style: torch.Tensor, images: list[np.ndarray], **kw) -> TrainStats:
        self.net, self.stats = train_transformer(
            self.loss_net, style, images, device=self.device, **{**self.train_kw, **kw}
        )
        return self.stats

    def stylize(self, img: np.ndarray) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("call fit() first")
        return stylize_image(self.net, img, self.device)
