"""The Keras runtime of ``super-resolve`` (:class:`artforge.sr_learned.SRRuntime`): the
networks (initialised as the torch backend initialises them for the same seed), a train step
(:class:`.train.SRModel` under ``tf.function``, Adam with the optimiser's weight averaging), a
forward pass, ``.weights.h5`` model files (and torch ``.safetensors`` converted layer by
layer); the step, the data, the training loop and the tiling are the core's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from artforge.sr_learned import RuntimeBase

from ..backend import keras_module


def build_net(arch: str, scale: int, config: dict[str, Any] | None = None):
    from ..nets.sr import ESPCN, SRResNet

    cls = {"espcn": ESPCN, "srresnet": SRResNet}[arch]
    return cls(scale=scale, **(config or {}))


def conv_radius(net) -> int:
    """An upper bound of the receptive-field radius in input pixels of a network whose
    convolutions run in layer order (ESPCN, SRResNet): each convolution adds kernel // 2
    pixels at its resolution, and a pixel shuffle divides the later ones by its factor."""
    from ..nets.layers import PixelShuffle

    keras = keras_module()
    radius, factor = 0.0, 1
    for layer in net.layers:
        if isinstance(layer, keras.layers.Conv2D):
            radius += layer.dilation_rate[0] * (layer.kernel_size[0] // 2) / factor
        elif isinstance(layer, PixelShuffle):
            factor *= layer.factor
    return int(math.ceil(radius)) + 1


class Session:
    """One network's training: :class:`.train.SRModel`'s train step in a ``tf.function``,
    Adam whose learning rate the core sets every step, the optimiser's weight averaging."""

    def __init__(self, net, *, loss: str, ema_decay, perceptual, weight: float):
        import tensorflow as tf

        from .train import SRModel

        keras = keras_module()
        self.opt = keras.optimizers.Adam(
            1e-3, epsilon=1e-8, use_ema=bool(ema_decay), ema_momentum=ema_decay or 0.99
        )
        self.model = SRModel(net)
        self.model.compile(
            optimizer=self.opt, pixel_loss=loss, perceptual=perceptual, perceptual_weight=weight
        )
        self.net = net
        self._step = tf.function(lambda lo, hi: self.model.train_step((lo, hi)))

    def step(self, lo: np.ndarray, hi: np.ndarray, lr: float) -> float:
        self.opt.learning_rate = lr
        return float(self._step(lo, hi)["step_loss"])

    def save(self, path: Path, state: dict[str, Any]) -> None:
        from ..training.checkpoint import save_checkpoint

        save_checkpoint(path, self.model, state)

    def load(self, path: Path) -> dict[str, Any] | None:
        from artforge.api import StepError

        from ..training.checkpoint import load_checkpoint

        try:
            return load_checkpoint(path, self.model)
        except StepError:  # damaged: training restarts
            return None

    def finish(self) -> None:
        if self.opt.use_ema:
            self.opt.finalize_variable_values(self.net.trainable_variables)


class KerasSRRuntime(RuntimeBase):
    """No ``srgan``: the adversarial phase is the torch backend's for now."""

    backend, model_file, state_suffix = "keras", "sr.weights.h5", ".weights.h5"
    model_meta = {"format": "keras .weights.h5"}

    def __init__(self, ctx):
        from ..backend import fresh_session, runtime

        super().__init__(ctx)
        fresh_session(ctx.seed)
        self.rt = runtime(ctx.device, "auto")
        self.rt.apply_policy()
        ctx.info.update({k: v for k, v in self.rt.describe().items() if k != "device_name"})

    def scope(self):
        return self.rt.scope()

    def build(self, arch: str, scale: int, config: dict | None, seed: int):
        from ..backend import set_seed
        from ..nets.torch_random import torch_default_init

        set_seed(seed)
        # the weights the torch backend starts from for the same seed
        return torch_default_init(build_net(arch, scale, config), seed)

    def read_meta(self, path: Path) -> dict:
        from .train import read_meta

        return read_meta(path)

    def load_weights(self, net, path: Path) -> str | None:
        if Path(path).suffix == ".safetensors":
            from safetensors.numpy import load_file

            from ..nets.convert import load_torch_state

            load_torch_state(net, load_file(str(path)))
            return "trained by the torch backend, converted layer by layer"
        net.load_weights(str(path))
        return None

    def save(self, path: Path, net, meta: dict) -> None:
        from .train import save_model

        save_model(path, net, meta)

    def find_vgg(self, given: str | None) -> Path | None:
        from ..style.loss_net import find_weights

        return find_weights(self.ctx, given)

    def perceptual_network(self, path: Path):
        from ..style.loss_net import perceptual_network

        return perceptual_network(path)

    def session(self, net, *, loss, ema_decay, perceptual, weight) -> Session:
        return Session(net, loss=loss, ema_decay=ema_decay, perceptual=perceptual, weight=weight)

    def radius(self, net) -> int:
        return conv_radius(net)

    def forward(self, net):
        from ..gan_steps import inference_fn

        return inference_fn(net, self.rt)
