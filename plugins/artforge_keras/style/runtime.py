"""The Keras runtime of the ``stylize`` step (:mod:`artforge.style.runtime`): tensor code
only; the step itself is :func:`artforge.style.step.run_stylize`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from artforge.style.gatys import gatys_options
from artforge.style.step import run_stylize
from artforge.style.training import feed_forward_options

from .images import to_array, to_uint8
from .loss_net import VGG_FILES, LossNetwork, build_features


def run(ctx, p):
    return run_stylize(ctx, p, KerasStyleRuntime())


class KerasStyleRuntime:
    backend = "keras"
    model_file = "style.weights.h5"
    model_meta: dict[str, Any] = {"format": "keras .weights.h5"}
    state_file = "style_train.weights.h5"
    vgg_files = VGG_FILES

    def __init__(self):
        self.rt = None

    @contextlib.contextmanager
    def session(self, ctx):
        from ..backend import fresh_session, runtime

        fresh_session(ctx.seed)
        self.rt = runtime(ctx.device, "off")
        info = self.rt.describe()
        ctx.info.update({k: v for k, v in info.items() if k not in ("device_name", "amp")})
        with self.rt.scope():
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
        net = build_features(kind, path, list(dict.fromkeys(content + style)), seed)
        return LossNetwork(net, content, style, kind, description)

    def tensor(self, img: np.ndarray) -> np.ndarray:
        return to_array(img)

    def image(self, x) -> np.ndarray:
        return to_uint8(x)

    def losses(self, net: LossNetwork, x, content_t, style_t) -> tuple[float, float]:
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
            seed=seed,
            log=log,
            state_path=state_path,
        )
        return model

    def load_transformer(self, path: Path, what: str):
        from .feedforward import load_transformer

        return load_transformer(path, what)

    def save_transformer(self, path: Path, net, meta: dict[str, Any]) -> None:
        from ..sr.train import save_model

        save_model(path, net, meta)

    def stylizer(self, net):
        from .feedforward import stylize_fn

        return stylize_fn(net, self.rt)
