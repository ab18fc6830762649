"""What plugins register: step types, backends and components (models, trainers, optimisers).

The registry keeps, for every entry, the plugin that registered it, so duplicates and
failures are reported by plugin name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .errors import PluginError, suggest

COMPONENT_KINDS = ("model", "trainer", "style-optimiser")
# what a trainer registered with ``data=`` trains on: ``train-gan`` builds that data for it the
# way it does for its built-in model of the same kind (pix2pix, cyclegan, dcgan)
TRAINER_DATA = ("paired", "unpaired", "images")


def load_object(spec: str | Callable, what: str = "object") -> Any:
    """Import ``"package.module:attr"`` (or return a callable as is)."""
    if not isinstance(spec, str):
        return spec
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    obj = module
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass
class StepType:
    """A kind of step a recipe can ``use``.

    Args:
        name: what recipes write after ``uses:`` (kebab-case).
        params: the parameter schema, a ``Params`` subclass; its fields are the ``with:`` keys.
        run: ``run(ctx, params) -> dict[str, Artifact]`` or a ``"module:function"`` string.
        outputs: names of the artifacts the step returns (referenced as ``${id.name}``).
        description: one line for ``artforge steps``.
        backend: the backend it runs on, or None for backend-free steps.
        version: bump it when the step's results change for the same parameters (cache key).
    """

    name: str
    params: type[BaseModel]
    run: Callable | str
    outputs: tuple[str, ...] = ()
    description: str = ""
    backend: str | None = None
    version: str = "1"
    plugin: str = ""

    def load_run(self) -> Callable:
        return load_object(self.run, f"step {self.name}")


@dataclass
class Backend:
    """A deep-learning framework that steps can run on."""

    name: str
    requires: tuple[str, ...] = ()
    install: str = ""
    description: str = ""
    plugin: str = ""

    def missing(self) -> list[str]:
        import importlib.util

        return [m for m in self.requires if importlib.util.find_spec(m) is None]


@dataclass
class Component:
    """A model, trainer or style-transfer optimiser offered by a plugin (built-ins included).

    Args:
        kind: ``generator``, ``discriminator``, ``sr``, ``features``, ``trainer``,
            ``style-optimiser``, ...
        name: what a recipe names (``model: NAME``, ``method: NAME``, ``generator: NAME``) and
            what a generator artifact's ``meta["arch"]`` says.
        factory: the class or function (or a ``"module:attr"`` string, imported only when a
            step needs it).
        backend: the backend it is for, or None for any.
        data: trainers: the training data ``train-gan`` builds for it (one of
            :data:`TRAINER_DATA`); a trainer registered without it (``fast-style``) is not one
            ``train-gan`` can run.
        options: a pydantic model (an :class:`artforge.api.Options` subclass) of the
            component's own settings, validated when the recipe loads (``options:`` of the
            step; unknown keys get a did-you-mean with file and line). None: it takes none.
        version: bump it when the component's results change for the same settings: it
            enters the cache key of the steps that use it.
        loader: generators: ``loader(meta, path, direction) -> network`` rebuilds a trained
            generator from its model artifact for ``translate``/``sample`` (``"module:attr"``
            string or callable). None: the backend builds ``factory(**meta["kwargs"])`` and
            loads its weights file.
    """

    kind: str
    name: str
    factory: Callable | str
    backend: str | None = None
    description: str = ""
    plugin: str = ""
    data: str | None = None
    options: type[BaseModel] | None = None
    version: str = "1"
    loader: Callable | str | None = None

    def load(self) -> Any:
        return load_object(self.factory, f"{self.kind} {self.name}")

    def load_loader(self) -> Callable | None:
        return None if self.loader is None else load_object(self.loader, f"{self.name} loader")


@dataclass
class Registry:
    steps: dict[tuple[str, str | None], StepType] = field(default_factory=dict)
    backends: dict[str, Backend] = field(default_factory=dict)
    components: dict[tuple[str, str, str | None], Component] = field(default_factory=dict)

    # -- registration -------------------------------------------------------------------
    def add_step(self, st: StepType, plugin: str) -> None:
        if not isinstance(st, StepType):
            raise PluginError(
                f"plugin '{plugin}' registered {st!r}, which is not an artforge StepType"
            )
        st.plugin = plugin
        if not (isinstance(st.params, type) and issubclass(st.params, BaseModel)):
            raise PluginError(
                f"plugin '{plugin}': step '{st.name}' has an invalid parameter schema "
                f"{st.params!r}: it must be a subclass of artforge.api.Params"
            )
        if not st.name or not st.name.replace("-", "").replace("_", "").isalnum():
            raise PluginError(f"plugin '{plugin}': invalid step type name {st.name!r}")
        key = (st.name, st.backend)
        if key in self.steps:
            other = self.steps[key].plugin
            where = f" for backend '{st.backend}'" if st.backend else ""
            raise PluginError(
                f"step type '{st.name}'{where} is registered twice: by plugin '{other}' "
                f"and by plugin '{plugin}'",
                hint="uninstall one of them, or restrict plugins with ARTFORGE_PLUGINS",
            )
        self.steps[key] = st

    def add_backend(self, b: Backend, plugin: str) -> None:
        b.plugin = plugin
        if b.name in self.backends:
            raise PluginError(
                f"backend '{b.name}' is registered twice: by plugin "
                f"'{self.backends[b.name].plugin}' and by plugin '{plugin}'"
            )
        self.backends[b.name] = b

    def add_component(self, c: Component, plugin: str) -> None:
        c.plugin = plugin
        key = (c.kind, c.name, c.backend)
        if key in self.components:
            raise PluginError(
                f"{c.kind} '{c.name}' (backend {c.backend}) is registered twice: by plugin "
                f"'{self.components[key].plugin}' and by plugin '{plugin}'"
            )
        self.components[key] = c

    # -- lookup ---------------------------------------------------------------------------
    def step_names(self) -> list[str]:
        return sorted({name for name, _ in self.steps})

    def backends_of(self, name: str) -> list[str]:
        return sorted(b for n, b in self.steps if n == name and b is not None)

    def find_step(self, name: str, backend: str | None) -> StepType:
        """The step type ``name`` for ``backend`` (backend-specific first, then backend-free)."""
        if (name, backend) in self.steps:
            return self.steps[(name, backend)]
        if (name, None) in self.steps:
            return self.steps[(name, None)]
        others = self.backends_of(name)
        if others:
            raise LookupError(
                f"step type '{name}' is not available for backend '{backend}'; "
                f"it exists for: {', '.join(others)}"
            )
        hint = suggest(name, self.step_names())
        raise LookupError(f"unknown step type '{name}'" + (f"; {hint}" if hint else ""))

    def component(self, kind: str, name: str, backend: str | None) -> Component:
        for key in ((kind, name, backend), (kind, name, None)):
            if key in self.components:
                return self.components[key]
        names = sorted({n for k, n, b in self.components if k == kind and b in (backend, None)})
        hint = suggest(name, names)
        raise LookupError(
            f"unknown {kind} '{name}' for backend '{backend}'"
            + (f"; {hint}" if hint else (f"; available: {', '.join(names)}" if names else ""))
        )

    def components_of(self, kind: str, backend: str | None = None) -> list[Component]:
        return [
            c
            for (k, _, b), c in sorted(self.components.items(), key=lambda kv: str(kv[0]))
            if k == kind and (backend is None or b in (backend, None))
        ]
