"""What a backend supplies to the ``stylize`` step: a small runtime object, tensor code only.

The core (:mod:`artforge.style.step`) loads and sizes the images, dispatches on ``method``,
keeps the content/style/TV curves, computes the metrics and writes the outputs; the runtime
only runs networks. A backend's step function is one line::

    def run(ctx, p):
        return run_stylize(ctx, p, TorchStyleRuntime())

A backend declares the methods it supports by registering the style optimisers ``gatys``
(``method: optimise``) and ``johnson`` (``method: feed-forward``) for its backend; a recipe
that names a method its backend does not support is refused when it loads (``file:line``).
``patch`` is numpy and runs on every backend.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class LossNetwork(Protocol):
    """Features of a frozen network and the three losses on them (backend tensors)."""

    content_layers: list[str]
    style_layers: list[str]
    kind: str  # "vgg19" | "random"
    description: str

    def content_targets(self, x: Any) -> dict[str, Any]: ...
    def style_targets(self, x: Any) -> dict[str, Any]: ...
    def losses(self, x: Any, content_t: Any, style_t: Any) -> tuple[Any, Any, Any]: ...


class StyleRuntime(Protocol):
    backend: str  # the backend's name, written into a trained network's metadata
    model_file: str  # file name of a trained transformation network
    model_meta: dict[str, Any]  # extra metadata of that file (e.g. its format)
    state_file: str  # resume state of feed-forward training, in the step's work folder
    vgg_files: str  # the VGG19 weight files it loads, for error hints

    def session(self, ctx: Any) -> AbstractContextManager[None]:
        """Device, seeds and placement for the whole step; fills ``ctx.info`` (device)."""

    def find_vgg19(self) -> Path | None:
        """A VGG19 weight file in the framework's usual caches, or None."""

    def feature_nets(self) -> Any:
        """The module of its feature networks: ``VGG19_LAYERS``, ``DEFAULT_CONTENT_LAYERS``,
        ``DEFAULT_STYLE_LAYERS`` and ``RandomMultiScaleFeatures`` (with ``LAYERS`` and the
        defaults as class attributes); the core checks the recipe's layers against them."""

    def loss_network(
        self,
        kind: str,
        path: Path | None,
        content: list[str],
        style: list[str],
        seed: int,
        description: str,
    ) -> LossNetwork:
        """The frozen feature network (VGG19 with the weights at ``path``, or random filters
        drawn from ``seed``) with the losses on it; raises anything for a bad weight file."""

    def tensor(self, img: np.ndarray) -> Any:
        """uint8 (H, W, 3) -> the backend's [0, 1] image batch of one."""

    def image(self, x: Any) -> np.ndarray:
        """A [0, 1] image batch of one -> uint8 (H, W, 3)."""

    def losses(self, net: LossNetwork, x: Any, content_t: Any, style_t: Any) -> tuple[float, float]:
        """(content, style) losses as floats, without gradients."""

    def gatys(self, net: LossNetwork, p: Any, seed: int) -> Any:
        """A :class:`artforge.style.gatys.CoarseToFine` of this backend for the step's keys."""

    def train_transformer(
        self,
        net: LossNetwork,
        style: Any,
        images: list[np.ndarray],
        p: Any,
        *,
        seed: int,
        log: Any,
        state_path: Path,
    ) -> Any:
        """Train a transformation network for ``style``; ``log`` is a
        :class:`artforge.style.training.LossLog`. Returns the network."""

    def load_transformer(self, path: Path, what: str) -> tuple[Any, dict[str, Any]]:
        """A saved transformation network and its metadata (a clear StepError otherwise)."""

    def save_transformer(self, path: Path, net: Any, meta: dict[str, Any]) -> None: ...

    def stylizer(self, net: Any) -> Any:
        """A function uint8 (H, W, 3) -> uint8 of the same size: one forward pass."""


class StyleRuntimeBase:
    """What every runtime does the same way, for a backend whose style package (the package of
    the runtime's module) holds ``gatys.GatysOptimiser`` (a
    :class:`artforge.style.gatys.CoarseToFine`) and ``feedforward.train_transformer(loss_net,
    style, images, *, seed, state_path, **train_kw, **TrainOptions)``, and whose ``nets``
    package holds the feature networks (``features``, with ``find_vgg19_weights``)."""

    backend = ""
    model_file = ""
    model_meta: dict[str, Any] = {}
    state_file = ""
    vgg_files = ""

    def _module(self, name: str) -> Any:
        import importlib

        package = type(self).__module__.rpartition(".")[0]  # e.g. artforge_torch.style
        return importlib.import_module(name, package)

    def feature_nets(self) -> Any:
        return self._module("..nets.features")

    def find_vgg19(self) -> Path | None:
        return self.feature_nets().find_vgg19_weights()

    def gatys(self, net: Any, p: Any, seed: int) -> Any:
        from .gatys import gatys_options

        return self._module(".gatys").GatysOptimiser(net, **gatys_options(p), seed=seed)

    def train_kw(self) -> dict[str, Any]:
        """Backend-specific keyword arguments of ``train_transformer`` (e.g. the device)."""
        return {}

    def train_transformer(
        self,
        net: Any,
        style: Any,
        images: list[np.ndarray],
        p: Any,
        *,
        seed: int,
        log: Any,
        state_path: Path,
    ) -> Any:
        from .training import feed_forward_options

        train = self._module(".feedforward").train_transformer
        model, _ = train(
            net,
            style,
            images,
            seed=seed,
            state_path=state_path,
            log=log,
            **feed_forward_options(p),
            **self.train_kw(),
        )
        return model
