"""Running the trainers and style optimisers plugins register, the same way on every backend.

The backends' ``train-gan`` and ``stylize`` steps call these for a ``model`` / ``method``
that is not built in (the recipe loader has already checked that it is registered for the
step's backend: :func:`artforge.params.check_registered`). The contracts are documented in
docs/plugins.md (``register_trainers``, ``register_style_optimisers``):

- a GAN trainer (registered with ``data=``) is a class ``T(ctx, params, data)`` with
  ``fit()`` and ``export(ctx) -> outputs`` (and ``copy_samples(ctx)``, as the backends'
  ``GANTrainer`` has), or a function ``run(ctx, params) -> outputs``;
- a style optimiser is a class ``O(ctx, params)`` with ``stylize(content, style) -> image``
  (and optionally ``fit(style, images)``, called once first), or a function
  ``stylize(content, style, params) -> image``; images are uint8 ``(H, W, 3)`` arrays.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import StepError


def _loaded(ctx: Any, kind: str, name: str) -> tuple[Any, Any]:
    """The loaded factory and the registry entry of a registered component."""
    factory = ctx.component(kind, name)  # a clear StepError when it is not registered
    return factory, ctx.registry.component(kind, name, ctx.backend)


def run_gan_trainer(
    ctx: Any, p: Any, build_data: Callable[[Any, Any, str], tuple[Any, str]], base: str
) -> dict[str, Any]:
    """``train-gan`` with the registered trainer ``p.model``. ``build_data(ctx, p, kind)``
    is the backend's: the training data of that kind and a few words on it for the log;
    ``base`` names the backend's trainer base class for error hints."""
    factory, comp = _loaded(ctx, "trainer", p.model)
    who = f"trainer '{p.model}' of plugin '{comp.plugin}'"
    if comp.data is None:
        raise StepError(
            f"step '{ctx.step_id}': {who} is not a GAN trainer: it is registered without data=",
            hint="GAN trainers are registered with data='paired', 'unpaired' or 'images'",
        )
    ctx.info["trainer"] = f"{p.model} (plugin {comp.plugin}, {comp.data} data)"
    if not inspect.isclass(factory):  # run(ctx, params) -> outputs
        return factory(ctx, p)
    data, described = build_data(ctx, p, comp.data)
    trainer = factory(ctx, p, data)
    for method in ("fit", "export"):
        if not callable(getattr(trainer, method, None)):
            raise StepError(
                f"step '{ctx.step_id}': {who} has no {method}() method",
                hint=f"subclass {base} (build, train_step, sample_grid, export), or register "
                "a function run(ctx, params)",
            )
    rt = getattr(trainer, "rt", None)
    epochs = getattr(trainer, "total_epochs", None)
    ctx.log(
        f"  {p.model}: {described} at {p.image_size}px, batch {p.batch_size}"
        + (f", {epochs} epochs" if epochs else "")
        + (f" on {rt.describe()['device_name']}" if rt is not None else "")
    )
    trainer.fit()
    outputs = trainer.export(ctx)
    if not isinstance(outputs, dict):
        raise StepError(
            f"step '{ctx.step_id}': {who}: export(ctx) returned {type(outputs).__name__}, "
            "expected a dict of outputs such as {'generator': ctx.model_artifact(...)}"
        )
    outputs = dict(outputs)
    if "samples" not in outputs and callable(getattr(trainer, "copy_samples", None)):
        outputs["samples"] = trainer.copy_samples(ctx)
    return outputs


def run_style_optimiser(
    ctx: Any,
    p: Any,
    content: Any,
    style: np.ndarray,
    fit_size: Callable[[np.ndarray, int | None], np.ndarray],
    score: Callable[[np.ndarray, np.ndarray], tuple[float, float]] | None = None,
) -> Any:
    """``stylize`` with the registered style optimiser ``p.method``: each content image
    (fitted to ``size``) stylized with ``style``, written under its own name. ``score(img,
    result) -> (content_loss, style_loss_drop)`` is the backend's loss network, the same
    measure as its built-in methods report."""
    from .images import as_uint8

    factory, comp = _loaded(ctx, "style-optimiser", p.method)
    who = f"style optimiser '{p.method}' of plugin '{comp.plugin}'"
    ctx.info["method"] = f"{p.method} (plugin {comp.plugin})" + (
        f": {comp.description}" if comp.description else ""
    )
    if inspect.isclass(factory):
        optimiser = factory(ctx, p)
        if not callable(getattr(optimiser, "stylize", None)):
            raise StepError(
                f"step '{ctx.step_id}': {who} has no stylize(content, style) method",
                hint="a style optimiser class O(ctx, params) has stylize(content, style) -> "
                "image; or register a function stylize(content, style, params)",
            )
        fit = getattr(optimiser, "fit", None)
        if callable(fit):  # once, before the first image: e.g. train a network for the style
            train = ctx.images(p.train_images) if p.train_images else content
            fit(style, [fit_size(train.load(i), p.size) for i in range(len(train))])

        def stylize(img: np.ndarray) -> Any:
            return optimiser.stylize(img, style)

    else:

        def stylize(img: np.ndarray) -> Any:
            return factory(img, style, p)

    out = ctx.image_writer("images", method=p.method)
    progress = ctx.progress(len(content), "stylizing")
    drops, contents, times = [], [], []
    for i, name in enumerate(content.names):
        img = fit_size(content.load(i), p.size)
        t0 = time.perf_counter()
        result = stylize(img)
        times.append(time.perf_counter() - t0)
        arr = np.asarray(result) if result is not None else None
        if arr is None or arr.ndim != 3 or arr.shape[2] < 3:
            raise StepError(
                f"step '{ctx.step_id}': {who} returned "
                + ("nothing" if arr is None else f"an array of shape {arr.shape}")
                + f" for image {name}, expected an (H, W, 3) image",
                hint="return a uint8 array, or floats in [0, 1]",
            )
        arr = arr[..., :3]
        if arr.dtype.kind in "iu" and arr.dtype != np.uint8:  # integers: 0-255
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        res = as_uint8(arr)
        out.add(res, name=name)
        if score is not None:
            c, d = score(img, res)
            contents.append(c)
            drops.append(d)
        progress.update(1)
    progress.close()
    m = ctx.metrics
    if drops:
        m["style_loss_drop"] = round(float(np.mean(drops)), 4)
        m["content_loss_final"] = float(f"{float(np.mean(contents)):.4g}")
    m["seconds_per_image"] = round(float(np.median(times)), 4)
    return out.finish()
