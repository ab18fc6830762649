"""The plugin host: loads default plugins, installed plugins (entry points in the ``artforge``
group) and a recipe's own plugins, validates them, and builds the registry.

Environment:
    ARTFORGE_PLUGINS        comma-separated names: load only these installed plugins
                            ("" loads none; the core's default plugins always load)
    ARTFORGE_TRACE_PLUGINS  set to 1 to print which plugin answered which hook (stderr)
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel

from . import __version__, hookspecs
from .errors import ArtforgeError, PluginError, suggest
from .registry import TRAINER_DATA, Backend, Component, Registry, StepType

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


class PluginImportInterrupted(ArtforgeError):
    """Ctrl-C while a plugin was importing (a plugin that hangs at import): names the plugin."""

    exit_code = 130


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
        self.warnings: list[str] = []  # printed by the CLI beside the failures
        self.only: str | None = None  # ARTFORGE_PLUGINS when it restricted the installed plugins
        self.skipped: list[str] = []  # installed plugins that ARTFORGE_PLUGINS left out
        self._recipe_files: dict[str, str] = {}  # resolved path of a recipe plugin file -> name
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
        eps = sorted(entry_points(), key=lambda e: e.name)
        known = sorted({ep.name for ep in eps})
        if allowed is not None:
            self.only = only
            self.skipped = [n for n in known if n not in allowed]
            for name in sorted(allowed - set(known)):
                hint = suggest(name, known)
                self.warnings.append(
                    f"ARTFORGE_PLUGINS names '{name}', which is not an installed plugin"
                    + (f" ({hint})" if hint else "")
                    + "; installed plugins: "
                    + (", ".join(known) or "none")
                )
        for ep in eps:
            if allowed is not None and ep.name not in allowed:
                continue
            dist = getattr(ep, "dist", None)
            if ep.name in self.infos:
                if self.infos[ep.name].module != ep.value.partition(":")[0]:
                    other = self.infos[ep.name].distribution or self.infos[ep.name].module
                    self.failures[f"{ep.name} ({ep.value})"] = PluginFailure(
                        ep.name,
                        "entry point",
                        f"plugin name '{ep.name}' is already used by {other}; "
                        f"{_dist_name(dist) or ep.value} is skipped (rename its entry point)",
                    )
                continue
            try:  # before importing it: an incompatible plugin may not even import
                _check_required_version(dist, ep.name)
            except PluginError as exc:
                self.failures[ep.name] = PluginFailure(ep.name, "entry point", str(exc))
                self._trace_text(f"plugin '{ep.name}' refused: {exc.message}")
                continue
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise PluginImportInterrupted(
                    f"interrupted while importing plugin '{ep.name}' ({ep.value}): "
                    "it may hang at import",
                    hint="load the others without it: ARTFORGE_PLUGINS="
                    + ",".join(n for n in known if n != ep.name),
                ) from None
            except (Exception, SystemExit) as exc:  # a broken plugin must not break artforge
                error = (
                    f"it called sys.exit({exc.code!r}) while importing"
                    if isinstance(exc, SystemExit)
                    else f"{type(exc).__name__}: {exc}"
                )
                self.failures[ep.name] = PluginFailure(
                    ep.name, "entry point", error, traceback.format_exc()
                )
                self._trace_text(f"plugin '{ep.name}' failed to load: {type(exc).__name__}: {exc}")
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
                self._trace_text(f"plugin '{ep.name}' refused: {exc.message}")

    def load_spec(self, spec: str, base_dir: Path | None = None) -> str:
        """Load a recipe plugin: an importable module name or a path to a ``.py`` file."""
        if spec.endswith(".py") or "/" in spec or os.sep in spec:
            path = Path(spec)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not path.is_file():
                raise PluginError(f"plugin file not found: {path}")
            key = str(path.resolve())
            if key in self._recipe_files:
                return self._recipe_files[key]
            # two files may share a name (a/plugin.py, b/plugin.py): each gets its own plugin
            # and module name, so both load (or a clash between them is refused by name)
            stem, n = path.stem, 1
            while f"recipe_plugin_{stem}" in self.infos:
                n += 1
                stem = f"{path.stem}_{n}"
            name, modname = f"recipe_plugin_{stem}", f"artforge_recipe_plugins.{stem}"
            loader_spec = importlib.util.spec_from_file_location(modname, path)
            assert loader_spec and loader_spec.loader
            module = importlib.util.module_from_spec(loader_spec)
            try:
                sys.modules[modname] = module
                with _importing(f"plugin file {path}"):
                    loader_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(modname, None)
                raise
            self.add_module(module, name=name, source=f"recipe ({path})")
            self._recipe_files[key] = name
            return name
        if spec in self.infos:
            return spec
        with _importing(
            f"plugin module '{spec}'",
            hint="a recipe plugin is an importable module name or a path to a .py file",
        ):
            module = importlib.import_module(spec)
        self.add_module(module, name=spec, source="recipe")
        return spec

    def restriction_note(self) -> str:
        """What ``ARTFORGE_PLUGINS`` left out, for an "unknown step type" message ("" when
        the variable did not restrict this host)."""
        if self.only is None:
            return ""
        left_out = f" (left out: {', '.join(self.skipped)})" if self.skipped else ""
        return (
            f"ARTFORGE_PLUGINS={self.only!r} loads only these installed plugins{left_out}; "
            "unset it to load them all"
        )

    def add_module(self, module: ModuleType | object, *, name: str, source: str, **kw: Any) -> None:
        """Register one plugin object and validate its hook implementations."""
        _check_api_version(module, name)
        _check_hookimpls(self.pm, module, name)
        try:
            self.pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin '{name}': {exc}") from None
        except ValueError as exc:
            raise PluginError(f"plugin '{name}' cannot be registered: {exc}") from None
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:  # pragma: no cover - _check_hookimpls first
            self.pm.unregister(name=name)
            raise PluginError(
                f"plugin '{name}' implements a hook that does not exist: {exc}"
            ) from None
        hooks = sorted(h.name for h in self.pm.get_hookcallers(self.pm.get_plugin(name)) or [])
        self.infos[name] = PluginInfo(
            name=name,
            source=source,
            module=getattr(module, "__name__", type(module).__name__),
            hooks=hooks,
            **kw,
        )
        version = f" {kw['version']}" if kw.get("version") else ""
        self._trace_text(f"loaded plugin '{name}'{version} ({source}: {self.infos[name].module})")
        self._registry = None

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.infos.pop(name, None)
        self._recipe_files = {k: v for k, v in self._recipe_files.items() if v != name}
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

        def make_callbacks(plugin: str, done: list[str]) -> dict[str, Any]:
            def register_step(step_type: StepType) -> None:
                _check_step_type(step_type, plugin)
                reg.add_step(step_type, plugin)
                label = step_type.name + (f" [{step_type.backend}]" if step_type.backend else "")
                note(plugin, "steps", label)
                done.append(label)

            def register_backend(backend: Backend) -> None:
                if not isinstance(backend, Backend):
                    raise PluginError(
                        f"plugin '{plugin}' registered {backend!r}, which is not an "
                        "artforge.api.Backend"
                    )
                reg.add_backend(backend, plugin)
                note(plugin, "backends", backend.name)
                done.append(backend.name)

            def component(kind: str):
                def register(*args: Any, **kwargs: Any) -> None:
                    c = (
                        Component(kind, *args, **kwargs)
                        if kind != "model"
                        else Component(*args, **kwargs)
                    )
                    _check_component_data(c, plugin)
                    reg.add_component(c, plugin)
                    label = f"{c.name} [{c.backend}]" if c.backend else c.name
                    note(plugin, c.kind + "s", label)
                    done.append(f"{c.kind} {label}" if kind == "model" else label)

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
                done: list[str] = []
                callbacks = make_callbacks(impl.plugin_name, done)
                try:
                    result = impl.function(
                        **{a: callbacks[hook] for a in impl.argnames if a == "register"}
                    )
                except PluginError:
                    raise
                except (Exception, SystemExit) as exc:  # a plugin never ends artforge
                    what = (
                        f"it called sys.exit({exc.code!r})"
                        if isinstance(exc, SystemExit)
                        else f"{type(exc).__name__}: {exc}"
                    )
                    raise PluginError(
                        f"plugin '{impl.plugin_name}' failed in hook {hook}: {what}",
                        hint="run with --debug for the traceback",
                    ) from exc
                self._trace(impl.plugin_name, hook, ", ".join(done) or "nothing")
                if result is not None:
                    raise PluginError(
                        f"plugin '{impl.plugin_name}': hook {hook} returned a "
                        f"{type(result).__name__}; hooks return nothing",
                        hint=f"call register(...) once per item instead: def {hook}(register): "
                        "register(...)",
                    )
        return reg

    def call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call a notification hook on every plugin (with tracing).

        An exception in a plugin becomes a :class:`PluginError` naming the plugin and hook.
        """
        return [self.call_impl(impl, hook, **kwargs) for impl in self.impls(hook)]

    def impls(self, hook: str) -> list[Any]:
        """The implementations of ``hook``, in calling order (each has ``.plugin_name``)."""
        return list(getattr(self.pm.hook, hook).get_hookimpls())

    def call_impl(self, impl: Any, hook: str, **kwargs: Any) -> Any:
        self._trace(impl.plugin_name, hook)
        try:
            return impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
        except ArtforgeError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin '{impl.plugin_name}' failed in hook {hook}: {type(exc).__name__}: {exc}",
                hint="run with --debug for the traceback",
            ) from exc

    def _trace(self, plugin: str, hook: str, detail: str | None = None) -> None:
        self._trace_text(f"{hook} -> plugin '{plugin}'" + (f": {detail}" if detail else ""))

    def _trace_text(self, text: str) -> None:
        if self.trace:
            print(f"[artforge trace] {text}", file=sys.stderr)

    def failure_note(self) -> str:
        if not self.failures:
            return ""
        return "; ".join(
            f"plugin '{f.name}' failed to load: {f.error}" for f in self.failures.values()
        )


@contextlib.contextmanager
def _importing(what: str, hint: str | None = None) -> Iterator[None]:
    """Turn what a recipe plugin's import can do into a message naming it: an exception or
    ``sys.exit`` (a PluginError), Ctrl-C while it hangs (:class:`PluginImportInterrupted`)."""
    try:
        yield
    except KeyboardInterrupt:
        raise PluginImportInterrupted(
            f"interrupted while importing {what}: it may hang at import",
            hint="remove it from the recipe's plugins: or fix it",
        ) from None
    except SystemExit as exc:
        raise PluginError(
            f"{what} called sys.exit({exc.code!r}) while importing",
            hint="a plugin must not exit: raise an exception with a message instead",
        ) from None
    except Exception as exc:
        raise PluginError(
            f"{what} failed to import: {type(exc).__name__}: {exc}", hint=hint
        ) from exc


def entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _dist_name(dist: Any) -> str | None:
    try:
        return dist.metadata["Name"] if dist is not None else None
    except Exception:  # pragma: no cover - broken metadata
        return None


HOOK_NAMES = tuple(
    n for n in dir(hookspecs) if getattr(getattr(hookspecs, n), "artforge_spec", None) is not None
)


def _check_hookimpls(pm: pluggy.PluginManager, module: object, name: str) -> None:
    """Clear errors for the mistakes a plugin author makes with hook implementations.

    - a marked function whose name is not a hook (``register_step``): did you mean;
    - an argument the hook does not provide (``register_steps(reg)``);
    - a function named like a hook but not marked with ``@hookimpl`` (pluggy ignores it);
    - a function marked with another project's marker (``@pluggy.HookimplMarker("x")``).
    """
    for attr in dir(module):
        if attr.startswith("__"):
            continue
        try:
            obj = getattr(module, attr)
        except Exception:  # properties that fail are not hooks
            continue
        if not callable(obj) or isinstance(obj, type):
            continue
        opts = getattr(obj, "artforge_impl", None)
        if opts is None:
            if attr in HOOK_NAMES:
                other = [a[: -len("_impl")] for a in dir(obj) if a.endswith("_impl")]
                marked = f" (it is marked for '{other[0]}', not artforge)" if other else ""
                raise PluginError(
                    f"plugin '{name}' defines {attr}() but it is not marked as a hook "
                    f"implementation{marked}, so artforge would ignore it",
                    hint="decorate it with @hookimpl: from artforge.api import hookimpl",
                )
            continue
        hook = (opts.get("specname") if isinstance(opts, dict) else None) or attr
        if hook not in HOOK_NAMES:
            raise PluginError(
                f"plugin '{name}' implements '{hook}', which is not an artforge hook",
                hint=suggest(hook, HOOK_NAMES) or "artforge hooks: " + ", ".join(HOOK_NAMES),
            )
        spec_args = list(getattr(pm.hook, hook).spec.argnames)
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins
            continue
        for arg, param in params.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or arg in spec_args:
                continue
            if arg in ("self", "cls"):  # a class used as a plugin
                continue
            if param.default is not param.empty:
                continue
            raise PluginError(
                f"plugin '{name}': {attr}() asks for an argument '{arg}' that hook {hook} does "
                f"not provide; {hook} provides: {', '.join(spec_args)}",
                hint=f"arguments are passed by name: def {hook}({', '.join(spec_args)})",
            )


def _check_step_type(st: Any, plugin: str) -> None:
    """Refuse step types a recipe could not use, naming the plugin and the step."""
    if not isinstance(st, StepType):
        raise PluginError(
            f"plugin '{plugin}' registered {st!r}, which is not an artforge StepType",
            hint="register(StepType(name=..., params=..., run=..., outputs=(...)))",
        )
    what = f"plugin '{plugin}': step '{st.name}'"
    params = st.params
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise PluginError(
            f"{what} has an invalid parameter schema {params!r}: it must be a subclass of "
            "artforge.api.Params",
            hint="class MyParams(Params): size: int = Field(64, ge=8, description=...)",
        )
    if params.model_config.get("extra") != "forbid":
        raise PluginError(
            f"{what}: its parameter schema {params.__name__} accepts unknown keys, so a "
            "misspelt parameter in a recipe would be silently ignored",
            hint="derive it from artforge.api.Params instead of pydantic.BaseModel",
        )
    outputs = st.outputs
    if isinstance(outputs, str) or not all(isinstance(o, str) and o for o in outputs):
        raise PluginError(
            f"{what}: outputs must be a tuple of output names, got {outputs!r}",
            hint=f"outputs=({outputs!r},)" if isinstance(outputs, str) else None,
        )
    run = st.run
    if isinstance(run, str):
        module, _, attr = run.partition(":")
        if not module or not attr:
            raise PluginError(
                f"{what}: run={run!r} is not 'package.module:function'",
                hint="give the function itself, or a string such as 'my_plugin.steps:run'",
            )
    elif not callable(run):
        raise PluginError(f"{what}: run must be a function run(ctx, params), got {run!r}")
    if st.backend is not None and not isinstance(st.backend, str):
        raise PluginError(f"{what}: backend must be a name such as 'torch' or None")


def _check_component_data(c: Component, plugin: str) -> None:
    """``options=`` is a pydantic model, ``version=`` a string, ``loader=`` a generator's;
    ``data=`` says what a trainer trains on (``train-gan`` builds it); nothing else has it."""
    what = f"plugin '{plugin}': {c.kind} '{c.name}'"
    if c.options is not None and not (
        isinstance(c.options, type) and issubclass(c.options, BaseModel)
    ):
        raise PluginError(
            f"{what} is registered with options={c.options!r}, which is not a pydantic model",
            hint="subclass artforge.api.Options: class Options(Options): strength: float = 1.0",
        )
    if not isinstance(c.version, str) or not c.version:
        raise PluginError(
            f"{what} is registered with version={c.version!r}; a version is a string such as '2'",
            hint="bump it when the component's results change: it enters the cache key",
        )
    if c.loader is not None and c.kind != "generator":
        raise PluginError(
            f"{what} is registered with loader=, but only generators take one",
            hint="loader(meta, path, direction) rebuilds a trained generator for translate/sample",
        )
    if c.data is None:
        return
    if c.kind != "trainer":
        raise PluginError(
            f"{what} is registered with data={c.data!r}, but only trainers take data=",
            hint="remove data=, or register it with register_trainers",
        )
    if c.data not in TRAINER_DATA:
        raise PluginError(
            f"{what} is registered with data={c.data!r}; train-gan builds "
            + ", ".join(repr(d) for d in TRAINER_DATA)
            + " data",
            hint=suggest(str(c.data), TRAINER_DATA)
            or "paired: source/target pairs (as pix2pix); unpaired: two domains (as cyclegan); "
            "images: one image set (as dcgan)",
        )


def _check_required_version(dist: Any, name: str) -> None:
    """Refuse a plugin whose package requires another artforge (``artforge>=0.1,<0.2``).

    pip enforces the requirement when it installs; this catches ``--no-deps`` installs and
    an artforge upgraded or downgraded after the plugin was installed.
    """
    try:
        requires = (dist.requires or []) if dist is not None else []
    except Exception:  # pragma: no cover - unreadable metadata
        return
    lines = [r for r in requires if re.match(r"^\s*artforge\s*[^\w\s.-]", r, re.IGNORECASE)]
    if not lines or _dist_name(dist) in (None, "artforge"):
        return
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging ships with pip
        from pip._vendor.packaging.requirements import InvalidRequirement, Requirement

    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.specifier and not req.specifier.contains(__version__, prereleases=True):
            wanted = ",".join(sorted(map(str, req.specifier), key=lambda s: s[0] != ">"))
            raise PluginError(
                f"plugin '{name}' ({_dist_name(dist)} {dist.version}) supports artforge "
                f"{wanted}, but this is artforge {__version__}",
                hint=f"install a version of {_dist_name(dist)} made for artforge {__version__}, "
                f"or disable it with ARTFORGE_PLUGINS",
            )


def _check_api_version(module: object, name: str) -> None:
    """A plugin may set ``ARTFORGE_REQUIRES = ">=0.1,<1"``; refuse it when this version differs."""
    spec = getattr(module, "ARTFORGE_REQUIRES", None)
    if not spec:
        return
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:  # pragma: no cover - packaging ships with pip
        from pip._vendor.packaging.specifiers import InvalidSpecifier, SpecifierSet
    try:
        ok = __version__ in SpecifierSet(str(spec))
    except InvalidSpecifier:
        raise PluginError(
            f"plugin '{name}' declares an invalid ARTFORGE_REQUIRES {spec!r}",
            hint='use a version specifier such as ">=0.1,<0.2"',
        ) from None
    if not ok:
        raise PluginError(
            f"plugin '{name}' supports artforge {spec}, but this is artforge {__version__}",
            hint="upgrade or downgrade the plugin, or disable it with ARTFORGE_PLUGINS",
        )
