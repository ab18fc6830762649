"""Fast (feed-forward) style transfer (Johnson, Alahi & Fei-Fei 2016).

An image-transformation network (``artforge_torch.nets.transformer.TransformerNet``:
strided convolutions, residual blocks, instance normalisation, upsampling) is trained for
one style with the perceptual losses of :mod:`.gatys` (content, Gram-matrix style, total
variation) on random crops of a set of content images; it then stylizes any image in one
forward pass.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artforge.api import StepError
from artforge.style.training import ARCH, CropSampler, TrainOptions, TrainStats

from ..training.checkpoint import foreign
from .loss_net import RANGE_WEIGHT, LossNetwork, range_penalty
from .util import batch_to_tensor, load_safetensors, load_state, save_state, to_image, to_tensor

__all__ = ["ARCH", "CropSampler", "FeedForwardStyle", "TrainStats", "train_transformer"]


def build_transformer(config: dict[str, Any] | None = None) -> torch.nn.Module:
    from ..nets.transformer import TransformerNet

    return TransformerNet(**(config or {}))


def train_transformer(
    loss_net: LossNetwork,
    style: torch.Tensor,
    images: list[np.ndarray],
    *,
    seed: int = 0,
    state_path: Path | None = None,
    device: torch.device | str = "cpu",
    **options: Any,
) -> tuple[torch.nn.Module, TrainStats]:
    """Train a transformation network for ``style`` (1 x 3 x h x w in [0, 1]) on random crops
    of ``images``; ``options`` are :class:`artforge.style.training.TrainOptions`."""
    o = TrainOptions(**options)
    log, steps = o.log, o.steps
    device = torch.device(device)
    torch.manual_seed(seed)
    net = build_transformer(o.config).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=o.lr)
    sampler = CropSampler(images, o.size, seed)
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
    log.begin(start)
    last_save = time.perf_counter()
    for step in range(start, steps):
        x = batch_to_tensor(sampler(o.batch_size), device)
        content_t = loss_net.content_targets(x)
        y = net(x)
        # losses of the clipped output (what is written), plus a pull back into range
        lc, ls, ltv = loss_net.losses(y.clamp(0, 1), content_t, style_t)
        total = o.content_weight * lc + o.style_weight * ls + o.tv_weight * ltv
        total = total + RANGE_WEIGHT * range_penalty(y)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        log.step(step + 1, float(lc.detach()), float(ls.detach()), float(ltv.detach()))
        now = time.perf_counter()
        if state_path is not None and now - last_save > o.save_every:
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
    return net, log.stats()


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
