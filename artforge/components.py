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
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .errors import StepError


def _loaded(ctx: Any, kind: str, name: str) -> tuple[Any, Any]:
    """The loaded factory and the registry entry of a registered component (a context
    without a registry, as in a unit test, uses the installed plugins')."""
    if ctx.registry is None:
        ctx.registry = default_registry()
    factory = ctx.component(kind, name)  # a clear StepError when it is not registered
    return factory, ctx.registry.component(kind, name, ctx.backend)


def run_gan_trainer(
    ctx: Any, p: Any, build_data: Callable[[Any, Any, str], tuple[Any, str]], base: str
) -> dict[str, Any]:
    """``train-gan`` with the registered trainer ``p.model``: a built-in model (registered by
    its backend as a function ``run(ctx, params)``) or a plugin's. ``build_data(ctx, p,
    kind)`` is the backend's: the training data of that kind and a few words on it for the
    log; ``base`` names the backend's trainer base class for error hints."""
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


# -- registration: one helper for every backend plugin --------------------------------------------
def backend_hooks(backend: Any, features: tuple[str, ...]) -> dict[str, Callable[..., None]]:
    """The five registration hooks of a backend plugin, from its feature modules.

    ``backend`` is the :class:`artforge.api.Backend` it declares; ``features`` name modules
    (imported when the hooks run, skipped when absent) whose module-level lists are
    registered exactly as a third-party plugin registers its own: ``STEPS`` (StepType),
    ``MODELS``, ``TRAINERS`` and ``STYLE_OPTIMISERS``. An item of the last three is a
    :class:`artforge.api.Component` (its ``backend`` is set to this backend's name when
    None), or a tuple ``(kind, name, factory, description)`` for ``MODELS`` and ``(name,
    factory, description[, data])`` for the others. Feature modules import only pydantic and
    artforge, never the framework. Returns the hooks by name; a backend's ``plugin.py``
    makes them its own::

        globals().update(backend_hooks(Backend(name="torch", ...), FEATURES))
    """
    import importlib
    from dataclasses import replace

    from .hookspecs import hookimpl
    from .registry import Component

    name = backend.name

    def modules() -> Iterator[Any]:
        for mod_name in features:
            try:
                yield importlib.import_module(mod_name)
            except ModuleNotFoundError as exc:
                if exc.name != mod_name:  # a real import error inside the module
                    raise

    def items(attr: str, kind: str | None) -> Iterator[Component]:
        for mod in modules():
            for item in getattr(mod, attr, ()):
                if isinstance(item, Component):
                    yield item if item.backend else replace(item, backend=name)
                elif kind is None:  # MODELS: (kind, name, factory, description)
                    k, n, factory, description = item
                    yield Component(k, n, factory, backend=name, description=description)
                else:  # (name, factory, description[, data])
                    n, factory, description, *data = item
                    yield Component(
                        kind, n, factory, backend=name, description=description,
                        data=next(iter(data), None),
                    )  # fmt: skip

    def forward(register: Callable[..., None], c: Component, model: bool) -> None:
        extra = {f: getattr(c, f) for f in ("data", "options", "version", "loader")}
        extra = {k: v for k, v in extra.items() if v not in (None, "1")}
        head = (c.kind, c.name) if model else (c.name,)
        register(*head, c.factory, backend=c.backend, description=c.description, **extra)

    @hookimpl
    def register_backends(register):
        register(backend)

    @hookimpl
    def register_steps(register):
        for mod in modules():
            for step_type in getattr(mod, "STEPS", ()):
                register(step_type)

    @hookimpl
    def register_models(register):
        for c in items("MODELS", None):
            forward(register, c, True)

    @hookimpl
    def register_trainers(register):
        for c in items("TRAINERS", "trainer"):
            forward(register, c, False)

    @hookimpl
    def register_style_optimisers(register):
        for c in items("STYLE_OPTIMISERS", "style-optimiser"):
            forward(register, c, False)

    hooks = (
        register_backends,
        register_steps,
        register_models,
        register_trainers,
        register_style_optimisers,
    )
    return {hook.__name__: hook for hook in hooks}


# -- typed options and versions, checked when the recipe loads -------------------------------------
def _context_component(info: Any, kind: str, name: str | None) -> Any:
    from .params import registered_component

    return None if name is None else registered_component(info, kind, name)


def validate_options(info: Any, kind: str, name: str | None, options: dict[str, Any]) -> dict:
    """A step's ``options:`` for the registered ``kind`` component ``name``, validated with
    its ``Options`` class when it has one (defaults filled in, so they enter the cache key).
    Raises a pydantic error the recipe loader reports with file, line and did-you-mean."""
    from pydantic import ValidationError
    from pydantic_core import PydanticCustomError

    from .errors import suggest

    comp = _context_component(info, kind, name)
    if comp is None or comp.options is None:
        return options
    try:
        return comp.options.model_validate(options).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        fields = list(comp.options.model_fields)
        who = f"{kind} '{name}' (plugin {comp.plugin})"
        listing = "its options: " + ", ".join(fields) if fields else f"{name} takes no options"
        if err["type"] == "extra_forbidden":
            mean = suggest(str(err["loc"][-1]), fields)
            message = f"unknown option '{key}' of {who}" + (f"; {mean}" if mean else "")
            hint: str | None = listing
        else:
            msg = err["msg"].removeprefix("Value error, ")
            message = f"option '{key}' of {who}: {msg} (got {err.get('input')!r})"
            field = comp.options.model_fields.get(str(err["loc"][0]))
            hint = getattr(field, "description", None) or listing
        raise PydanticCustomError(
            "artforge_name", "{message}", {"message": message, "hint": hint}
        ) from None


def component_version(info: Any, kind: str, name: str | None) -> str | None:
    """The ``version`` of the registered ``kind`` component ``name`` when it is not "1"
    (None otherwise): a step puts it in its parameters' dump, so it enters the cache key."""
    comp = _context_component(info, kind, name)
    if comp is None or comp.version in (None, "", "1"):
        return None
    return str(comp.version)


# -- trained generators, rebuilt through the registry ----------------------------------------------
def trained_generator(
    registry: Any,
    backend: str,
    meta: dict[str, Any],
    path: Any,
    direction: str,
    default: Callable[[Callable, dict[str, Any], Any], Any],
    expect: str = "",
) -> Any:
    """The trained generator of a model artifact, for ``translate`` and ``sample``: the
    ``generator`` registered for ``backend`` under the artifact's ``meta["arch"]`` (built in
    or a plugin's), rebuilt by its ``loader(meta, path, direction)``, or else by the
    backend's ``default(factory, meta, path)`` (``factory(**meta["kwargs"])`` with the weights
    file loaded). ``registry`` None: the installed plugins' registry; ``expect`` says what the
    step takes, for the error when the meta does not fit the generator."""
    from .errors import StepError

    if registry is None:
        registry = default_registry()
    arch = meta.get("arch")
    try:
        comp = registry.component("generator", str(arch), backend)
    except LookupError as exc:
        raise StepError(
            f"cannot rebuild a '{arch}' generator: {exc}",
            hint="translate and sample use generators registered with register_models "
            "(`artforge plugins` lists them); install the plugin that trained this model",
        ) from None
    loader = comp.load_loader()
    if loader is not None:
        return loader(meta, path, direction)
    if not isinstance(meta.get("kwargs"), dict):
        raise StepError(
            f"the '{arch}' model artifact has no kwargs in its meta to rebuild the generator",
            hint="export generators with meta kwargs (the constructor's keyword arguments), "
            "or register the generator with loader=",
        )
    try:
        return default(comp.load(), meta, path)
    except TypeError as exc:  # the kwargs are not this generator's
        raise StepError(
            f"cannot rebuild the model's '{arch}' generator from its kwargs ({exc})"
            + (f": expected {expect}" if expect else ""),
            hint=f"'{arch}' is registered by plugin {comp.plugin}: {comp.description}",
        ) from None


_DEFAULT_REGISTRY: list[Any] = []


def default_registry() -> Any:
    """The registry of the installed plugins (built once), for callers without a step context."""
    if not _DEFAULT_REGISTRY:
        from .plugins import PluginHost

        _DEFAULT_REGISTRY.append(PluginHost().registry)
    return _DEFAULT_REGISTRY[0]
