"""The PyTorch runtime of the ``stylize`` step (:mod:`artforge.style.runtime`): tensor code
only; the step itself is :func:`artforge.style.step.run_stylize`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artforge.style.runtime import StyleRuntimeBase
from artforge.style.step import run_stylize

from .loss_net import VGG_FILES, LossNetwork, build_features
from .util import describe_device, resolve_device, save_safetensors, to_image, to_tensor


def run(ctx, p):
    return run_stylize(ctx, p, TorchStyleRuntime())


class TorchStyleRuntime(StyleRuntimeBase):
    backend = "torch"
    model_file = "style.safetensors"
    state_file = "style_train.pt"
    vgg_files = VGG_FILES

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)

    @contextlib.contextmanager
    def session(self, ctx):
        self.device = resolve_device(ctx.device)
        ctx.info["device"] = describe_device(self.device)
        yield

    def loss_network(self, kind, path, content, style, seed, description) -> LossNetwork:
        net = build_features(kind, path, list(dict.fromkeys(content + style)), seed, self.device)
        return LossNetwork(net, content, style, kind, description)

    def tensor(self, img: np.ndarray) -> torch.Tensor:
        return to_tensor(img, self.device)

    def image(self, x: torch.Tensor) -> np.ndarray:
        return to_image(x)

    def losses(self, net: LossNetwork, x, content_t, style_t) -> tuple[float, float]:
        with torch.no_grad():
            c, s, _ = net.losses(x, content_t, style_t)
        return float(c), float(s)

    def train_kw(self) -> dict[str, Any]:
        return {"device": self.device}

    def load_transformer(self, path: Path, what: str):
        from .feedforward import load_transformer

        return load_transformer(path, what, self.device)

    def save_transformer(self, path: Path, net, meta: dict[str, Any]) -> None:
        save_safetensors(path, net.state_dict(), meta)

    def stylizer(self, net):
        from .feedforward import stylize_image

        return lambda img: stylize_image(net, img, self.device)
