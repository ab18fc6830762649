"""The public plugin API: everything a plugin may import from artforge lives here.

Anything not listed in ``__all__`` is private and may change between versions. A plugin
can declare the versions it supports with a module attribute ``ARTFORGE_REQUIRES =
">=0.1,<0.2"``; an incompatible plugin is refused with a message naming both versions.
Reference: docs/plugins.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .artifacts import Artifact, FileArtifact, ImageSet, ModelArtifact
from .atomic import atomic_open, write_bytes, write_json, write_text
from .context import ImageSetWriter, StepContext, safe_name
from .errors import (
    ArtforgeError,
    BackendUnavailable,
    CheckpointError,
    DataError,
    Diverged,
    PluginError,
    RecipeError,
    ResourceError,
    StepError,
)
from .hookspecs import hookimpl
from .images import as_uint8, load_image, resize, resize_crop, save_png
from .params import InputRef, Params
from .registry import Backend, Component, StepType
from .seeding import derive_seed

API_VERSION = __version__


class Options(Params):
    """Base class of a component's own settings (``Component(..., options=MyOptions)``): a
    step's ``options:`` are validated with it when the recipe loads (unknown keys get a
    did-you-mean with file and line), and the validated values, defaults filled in, enter the
    step's cache key. Fields take a default and a ``description`` (``artforge plugins``)."""


@dataclass
class RunResult:
    """What :func:`run_recipe` returns: the run directory and the outputs of every step."""

    run_dir: Path
    outputs: dict[str, dict[str, Artifact]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # step id -> "ran" | "reused"

    def record(self, step_id: str) -> dict[str, Any]:
        """The step's ``record.json``: params, seed, metrics, warnings, info, plugin, ..."""
        return json.loads((self.run_dir / "steps" / step_id / "record.json").read_text())

    def images(self, step_id: str, output: str = "images") -> ImageSet:
        """An image output of a step (``.load(i)`` gives uint8 HxWx3 arrays)."""
        art = self.outputs[step_id][output]
        if not isinstance(art, ImageSet):
            raise TypeError(f"{step_id}.{output} is a {art.kind}, not images")
        return art


def run_recipe(
    recipe: str | Path,
    out_dir: str | Path,
    *,
    plugins: Iterable[object] = (),
    overrides: Iterable[str] = (),
    load_installed: bool = True,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Validate and run a recipe as ``artforge run`` does; made for a plugin's tests.

    ``recipe`` is a path to a YAML file or the YAML text itself (relative paths in a text
    recipe are relative to the current directory). ``plugins`` are modules or objects with
    hook implementations to register first (your plugin module when it is not installed);
    installed plugins load too unless ``load_installed=False``. ``overrides`` are ``--set``
    items. Raises what ``artforge run`` reports: :class:`RecipeError` for a recipe or
    parameter error, :class:`PluginError`, :class:`StepError`, ...
    """
    from .plugins import PluginHost
    from .recipe import load_recipe, parse_recipe
    from .runner import Runner

    host = PluginHost(load_installed=load_installed)
    for obj in plugins:
        if host.pm.is_registered(obj):
            continue
        name = getattr(obj, "__name__", None) or type(obj).__name__
        host.add_module(obj, name=name, source="run_recipe")
    if isinstance(recipe, str) and "\n" in recipe:
        rec = parse_recipe(recipe, host, overrides=list(overrides))
    else:
        rec = load_recipe(recipe, host, list(overrides))
    runner = Runner(rec, host, Path(out_dir), quiet=True, log=log or (lambda msg: None))
    summary = runner.run()
    return RunResult(
        summary.run_dir,
        dict(runner.artifacts),
        {o.id: o.status for o in summary.outcomes},
    )


__all__ = [
    "API_VERSION",
    "Artifact",
    "ArtforgeError",
    "Backend",
    "BackendUnavailable",
    "CheckpointError",
    "Component",
    "DataError",
    "Diverged",
    "FileArtifact",
    "ImageSet",
    "ImageSetWriter",
    "InputRef",
    "ModelArtifact",
    "Options",
    "Params",
    "PluginError",
    "RecipeError",
    "ResourceError",
    "RunResult",
    "StepContext",
    "StepError",
    "StepType",
    "as_uint8",
    "atomic_open",
    "derive_seed",
    "hookimpl",
    "load_image",
    "resize",
    "resize_crop",
    "run_recipe",
    "safe_name",
    "save_png",
    "write_bytes",
    "write_json",
    "write_text",
]
