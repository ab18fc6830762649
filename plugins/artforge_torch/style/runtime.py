"""The PyTorch runtime of the ``stylize`` step (:mod:`artforge.style.runtime`): tensor code
only; the step itself is :func:`artforge.style.step.run_stylize`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artforge.style.gatys import gatys_options
from artforge.style.step import run_stylize
from artforge.style.training import feed_forward_options

from .loss_net import VGG_FILES, LossNetwork, build_features
from .util import describe_device, resolve_device, save_safetensors, to_image, to_tensor


def run(ctx, p):
    return run_stylize(ctx, p, TorchStyleRuntime())


class TorchStyleRuntime:
    backend = "torch"
    model_file = "style.safetensors"
    model_meta: dict[str, Any] = {}
    state_file = "style_train.pt"
    vgg_files = VGG_FILES

    def __init__(self, device: torch.device | str | None = None):
        self.device = torch.device(device) if device is not None else None

    @contextlib.contextmanager
    def session(self, ctx):
        self.device = resolve_device(ctx.device)
        ctx.info["device"] = describe_device(self.device)
        yield

    @staticmethod
    def find_vgg19() -> Path | None:
        from ..nets.features import find_vgg19_weights

        found = find_vgg19_weights()
        return Path(found) if found else None

    @staticmethod
    def feature_nets():
        from ..nets import features

        return features

    def loss_network(self, kind, path, content, style, seed, description) -> LossNetwork:
        layers = list(dict.fromkeys(content + style))
        net = build_features(kind, path, layers, seed, self.device or "cpu")
        return LossNetwork(net, content, style, kind, description)

    def tensor(self, img: np.ndarray) -> torch.Tensor:
        return to_tensor(img, self.device or "cpu")

    def image(self, x: torch.Tensor) -> np.ndarray:
        return to_image(x)

    def losses(self, net: LossNetwork, x, content_t, style_t) -> tuple[float, float]:
        with torch.no_grad():
            c, s, _ = net.losses(x, content_t, style_t)
        return float(c), float(s)

    def gatys(self, net: LossNetwork, p: Any, seed: int):
        from .gatys import GatysOptimiser

        return GatysOptimiser(net, **gatys_options(p), seed=seed)

    def train_transformer(self, net, style, images, p, *, seed, log, state_path):
        from .feedforward import train_transformer

        model, _ = train_transformer(
            net,
            style,
            images,
            **feed_forward_options(p),
            device=self.device or "cpu",
            seed=seed,
            log=log,
            state_path=state_path,
        )
        return model

    def load_transformer(self, path: Path, what: str):
        from .feedforward import load_transformer

        return load_transformer(path, what, self.device or "cpu")

    def save_transformer(self, path: Path, net, meta: dict[str, Any]) -> None:
        save_safetensors(path, net.state_dict(), meta)

    def stylizer(self, net):
        from .feedforward import stylize_image

        device = self.device or "cpu"
        return lambda img: stylize_image(net, img, device)
