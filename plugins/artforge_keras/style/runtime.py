"""The Keras runtime of the ``stylize`` step (:mod:`artforge.style.runtime`): tensor code
only; the step itself is :func:`artforge.style.step.run_stylize`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from artforge.style.runtime import StyleRuntimeBase
from artforge.style.step import run_stylize

from .images import to_array, to_uint8
from .loss_net import VGG_FILES, LossNetwork, build_features


def run(ctx, p):
    return run_stylize(ctx, p, KerasStyleRuntime())


class KerasStyleRuntime(StyleRuntimeBase):
    backend = "keras"
    model_file = "style.weights.h5"
    model_meta = {"format": "keras .weights.h5"}
    state_file = "style_train.weights.h5"
    vgg_files = VGG_FILES
    rt = None  # the Keras device runtime of the step (artforge_keras.backend.runtime)

    @contextlib.contextmanager
    def session(self, ctx):
        from ..backend import fresh_session, runtime

        fresh_session(ctx.seed)
        self.rt = runtime(ctx.device, "off")
        info = self.rt.describe()
        ctx.info.update({k: v for k, v in info.items() if k not in ("device_name", "amp")})
        with self.rt.scope():
            yield

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

    def load_transformer(self, path: Path, what: str):
        from .feedforward import load_transformer

        return load_transformer(path, what)

    def save_transformer(self, path: Path, net, meta: dict[str, Any]) -> None:
        from ..sr.train import save_model

        save_model(path, net, meta)

    def stylizer(self, net):
        from .feedforward import stylize_fn

        return stylize_fn(net, self.rt)
