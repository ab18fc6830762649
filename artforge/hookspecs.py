"""Every hook artforge calls, in one place.

Each hook receives a ``register`` callback: a plugin calls ``register(...)`` once per thing it
offers, so the host controls naming, duplicates and error messages. Implementations may take
a subset of the arguments. None of these hooks may import torch or tensorflow: heavy imports
belong inside the factories and step functions, which run only when a recipe needs them.

Reference for plugin authors (arguments, when each hook is called, examples): docs/plugins.md.
A test fails when a hook here has no section there, or no test of its own in tests/plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("artforge")
hookimpl = pluggy.HookimplMarker("artforge")


@hookspec
def register_backends(register):
    """Declare a deep-learning backend (``torch``, ``keras``, ...).

    Called once when plugins are loaded. ``register(backend)`` takes an
    :class:`artforge.api.Backend`: its name, the Python modules it needs (checked with
    ``importlib.util.find_spec`` only, never imported), the pip command that installs them,
    and a description. Return nothing.
    """


@hookspec
def register_steps(register):
    """Declare step types that recipes can ``use``.

    Called once when plugins are loaded. ``register(step_type)`` takes an
    :class:`artforge.api.StepType`: name, parameter schema (a
    :class:`artforge.api.Params` subclass), output names, description, the backend it
    runs on (None for backend-free steps) and ``run``: a callable ``run(ctx, params)`` or a
    ``"module:function"`` string imported only when the step runs. Return nothing.
    """


@hookspec
def register_models(register):
    """Declare networks by kind: ``generator``, ``discriminator``, ``sr``, ``features``, ...

    Called once when plugins are loaded. ``register(kind, name, factory, backend=None,
    description="", options=None, version="1", loader=None)``; ``factory`` is a callable or a
    ``"module:attr"`` string that builds the network from keyword arguments. ``translate`` and
    ``sample`` rebuild a trained generator by the ``arch`` its model artifact names: with
    ``loader(meta, path, direction)``, or ``factory(**meta["kwargs"])`` and its weights file.
    ``options`` (an :class:`artforge.api.Options` model) and ``version`` (in the cache key)
    are as for trainers. Return nothing.
    """


@hookspec
def register_trainers(register):
    """Declare training procedures (``pix2pix``, ``dcgan``, ``cyclegan``, ``fast-style``, ...).

    Called once when plugins are loaded. ``register(name, factory, backend=...,
    description=..., data=None)``; ``factory`` is a class or function (or ``"module:attr"``
    string). With ``data="paired"``, ``"unpaired"`` or ``"images"`` it is a GAN trainer that
    ``train-gan`` runs as ``model: NAME``: a class ``T(ctx, params, data)`` with ``fit()``
    and ``export(ctx)`` (the backend's ``GANTrainer``), or a function ``run(ctx, params)``
    returning the outputs (the built-in GAN models are registered this way). ``options``: an
    :class:`artforge.api.Options` model the step's ``options:`` are validated with when the
    recipe loads; ``version``: a string that enters the step's cache key (bump it when the
    results change). Return nothing.
    """


@hookspec
def register_style_optimisers(register):
    """Declare style-transfer methods (``gatys`` optimisation, ``johnson`` feed-forward, ...).

    Called once when plugins are loaded. ``register(name, factory, backend=...,
    description=...)``; ``stylize`` runs it as ``method: NAME``: ``factory`` is a class
    ``O(ctx, params)`` with ``stylize(content, style) -> image`` (and optionally ``fit(style,
    images)``), or a function ``stylize(content, style, params) -> image``, on uint8
    ``(H, W, 3)`` arrays. Return nothing.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``artforge`` command line.

    Called when the CLI starts, with the root ``click.Group``; add commands with
    ``@cli.command()``. Keep imports inside the command functions. Return nothing.
    """


@hookspec
def register_gallery_views(register):
    """Declare ways of showing outputs in the gallery (views), beside the built-in ``grid``,
    ``timeline``, ``compare``, ``wide``, ``curve`` and ``table``.

    Called when a gallery page is built. ``register(name, render, kinds=("images",),
    description="")``: an output whose metadata says ``view=NAME`` is shown by
    ``render(output)``, which gets an :class:`artforge.gallery.views.OutputData` and returns
    an HTML fragment (escape text with ``markupsafe.escape``). Return nothing.
    """


@hookspec
def run_finished(run_dir, manifest):
    """Called after a run has finished and its gallery is written.

    ``run_dir`` is the run directory (a ``pathlib.Path``) and ``manifest`` the parsed
    ``manifest.json``. Use it to export, notify or post-process. Return nothing.
    """
