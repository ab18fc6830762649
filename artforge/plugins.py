"""The plugin host: loads default plugins, installed plugins (entry points in the ``artforge``
group) and a recipe's own plugins, validates them, and builds the registry.

Environment:
    ARTFORGE_PLUGINS        comma-separated names: load only these installed plugins
                            ("" loads none; the core's default plugins always load)
    ARTFORGE_TRACE_PLUGINS  set to 1 to print which plugin answered which hook (stderr)
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import __version__, hookspecs
from .errors import PluginError
from .registry import Backend, Component, Registry, StepType

ENTRY_POINT_GROUP = "artforge"
DEFAULT_PLUGINS = ("artforge.default_plugins.builtin_steps",)


@dataclass
class PluginInfo:
    name: str
    source: str  # "default", "entry point", "recipe"
    module: str
    version: str | None = None
    distribution: str | None = None
    hooks: list[str] = field(default_factory=list)
    registers: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PluginFailure:
    name: str
    source: str
    error: str
    detail: str = ""


class PluginHost:
    """Owns the pluggy PluginManager and the registry built from it."""

    def __init__(self, *, load_installed: bool = True, trace: bool | None = None):
        self.pm = pluggy.PluginManager("artforge")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: dict[str, PluginFailure] = {}
        self._registry: Registry | None = None
        if trace is None:
            trace = os.environ.get("ARTFORGE_TRACE_PLUGINS", "") not in ("", "0")
        self.trace = trace
        for mod in DEFAULT_PLUGINS:
            self.add_module(
                importlib.import_module(mod), name=mod.rsplit(".", 1)[-1], source="default"
            )
        if load_installed:
            self.load_entry_points()

    # -- loading ----------------------------------------------------------------------
    def load_entry_points(self) -> None:
        only = os.environ.get("ARTFORGE_PLUGINS")
        allowed = None if only is None else {s.strip() for s in only.split(",") if s.strip()}
        for ep in sorted(entry_points(), key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in self.infos:
                continue
            dist = getattr(ep, "dist", None)
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break artforge
                self.failures[ep.name] = PluginFailure(
                    ep.name, "entry point", f"{type(exc).__name__}: {exc}", traceback.format_exc()
                )
                continue
            try:
                self.add_module(
                    module,
                    name=ep.name,
                    source="entry point",
                    distribution=dist.metadata["Name"] if dist else None,
                    version=dist.version if dist else None,
                )
            except PluginError as exc:
                self.failures[ep.name] = PluginFailure(ep.name, "entry point", str(exc))

    def load_spec(self, spec: str, base_dir: Path | None = None) -> str:
        """Load a recipe plugin: an importable module name or a path to a ``.py`` file."""
        if spec.endswith(".py") or "/" in spec or os.sep in spec:
            path = Path(spec)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not path.is_file():
                raise PluginError(f"plugin file not found: {path}")
            name = f"recipe_plugin_{path.stem}"
            if name in self.infos:
                return name
            modname = f"artforge_recipe_plugins.{path.stem}"
            loader_spec = importlib.util.spec_from_file_location(modname, path)
            assert loader_spec and loader_spec.loader
            module = importlib.util.module_from_spec(loader_spec)
            try:
                sys.modules[modname] = module
                loader_spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(modname, None)
                raise PluginError(
                    f"plugin file {path} failed to import: {type(exc).__name__}: {exc}"
                ) from exc
            self.add_module(module, name=name, source=f"recipe ({path})")
            return name
        if spec in self.infos:
            return spec
        try:
            module = importlib.import_module(spec)
        except Exception as exc:
            raise PluginError(
                f"plugin module '{spec}' failed to import: {type(exc).__name__}: {exc}",
                hint="a recipe plugin is an importable module name or a path to a .py file",
            ) from exc
        self.add_module(module, name=spec, source="recipe")
        return spec

    def add_module(self, module: ModuleType | object, *, name: str, source: str, **kw: Any) -> None:
        """Register one plugin object and validate its hook implementations."""
        _check_api_version(module, name)
        try:
            self.pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin '{name}': {exc}") from None
        except ValueError as exc:
            raise PluginError(f"plugin '{name}' cannot be registered: {exc}") from None
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=name)
            hooks = [h for h in dir(hookspecs) if h.startswith(("register_", "run_"))]
            bad = getattr(exc, "plugin", None)
            from .errors import suggest

            msg = str(exc)
            names = [
                attr
                for attr in dir(module)
                if getattr(getattr(module, attr, None), "artforge_impl", None) is not None
                and attr not in hooks
            ]
            hint = suggest(names[0], hooks) if names else None
            raise PluginError(
                f"plugin '{name}' implements a hook that does not exist: {msg}"
                + (f" ({bad})" if bad and bad is not module else ""),
                hint=hint or ("known hooks: " + ", ".join(hooks)),
            ) from None
        hooks = sorted(h.name for h in self.pm.get_hookcallers(self.pm.get_plugin(name)) or [])
        self.infos[name] = PluginInfo(
            name=name,
            source=source,
            module=getattr(module, "__name__", repr(module)),
            hooks=hooks,
            **kw,
        )
        self._registry = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.infos.pop(name, None)
        self._registry = None

    # -- the registry -----------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        reg = Registry()
        for info in self.infos.values():
            info.registers = {}

        def note(plugin: str, what: str, label: str) -> None:
            if plugin in self.infos:
                self.infos[plugin].registers.setdefault(what, []).append(label)

        def make_callbacks(plugin: str) -> dict[str, Any]:
            def register_step(step_type: StepType) -> None:
                reg.add_step(step_type, plugin)
                label = step_type.name + (f" [{step_type.backend}]" if step_type.backend else "")
                note(plugin, "steps", label)

            def register_backend(backend: Backend) -> None:
                reg.add_backend(backend, plugin)
                note(plugin, "backends", backend.name)

            def component(kind: str):
                def register(*args: Any, **kwargs: Any) -> None:
                    c = (
                        Component(kind, *args, **kwargs)
                        if kind != "model"
                        else Component(*args, **kwargs)
                    )
                    reg.add_component(c, plugin)
                    note(plugin, c.kind + "s", f"{c.name} [{c.backend}]" if c.backend else c.name)

                return register

            return {
                "register_steps": register_step,
                "register_backends": register_backend,
                "register_models": component("model"),
                "register_trainers": component("trainer"),
                "register_style_optimisers": component("style-optimiser"),
            }

        for hook in (
            "register_backends",
            "register_steps",
            "register_models",
            "register_trainers",
            "register_style_optimisers",
        ):
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                callbacks = make_callbacks(impl.plugin_name)
                self._trace(impl.plugin_name, hook)
                try:
                    impl.function(**{a: callbacks[hook] for a in impl.argnames if a == "register"})
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"plugin '{impl.plugin_name}' failed in hook {hook}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
        return reg

    def call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call a notification hook on every plugin (with tracing)."""
        results = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            self._trace(impl.plugin_name, hook)
            results.append(impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs}))
        return results

    def _trace(self, plugin: str, hook: str) -> None:
        if self.trace:
            print(f"[artforge trace] {hook} -> plugin '{plugin}'", file=sys.stderr)

    def failure_note(self) -> str:
        if not self.failures:
            return ""
        return "; ".join(
            f"plugin '{f.name}' failed to load: {f.error}" for f in self.failures.values()
        )


def entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _check_api_version(module: object, name: str) -> None:
    """A plugin may set ``ARTFORGE_REQUIRES = ">=0.1,<1"``; refuse it when this version differs."""
    spec = getattr(module, "ARTFORGE_REQUIRES", None)
    if not spec:
        return
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - packaging ships with pip
        return
    try:
        ok = __version__ in SpecifierSet(str(spec))
    except InvalidSpecifier:
        raise PluginError(
            f"plugin '{name}' declares an invalid ARTFORGE_REQUIRES {spec!r}"
        ) from None
    if not ok:
        raise PluginError(
            f"plugin '{name}' supports artforge {spec}, but this is artforge {__version__}",
            hint="upgrade or downgrade the plugin, or disable it with ARTFORGE_PLUGINS",
        )
