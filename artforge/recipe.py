"""Recipes: YAML in, a validated step graph out.

Everything is checked before anything runs: the YAML itself, every key and type (typed
schemas that reject unknown keys and suggest close matches), each step's parameters against
its step type's schema, references between steps, and cycles. Each problem becomes one
:class:`RecipeError` naming ``file:line:column``, the key path and a hint.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .errors import Location, RecipeError, suggest
from .params import ANY_REF_RE, find_refs, reject_bool_for_number
from .registry import StepType
from .yamlsrc import SourceMap, format_path, load_yaml

ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
PATTERN_WORDS = {
    ID_PATTERN: "a step id starts with a letter or '_' and holds only letters, digits, '_' and "
    "'-' (at most 64 characters)",
    NAME_PATTERN: "a run name starts with a letter or digit and holds only letters, digits, "
    "'_', '.' and '-' (at most 100 characters): it names the folder gallery/<name>",
}
DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")
MAX_STEPS = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    @field_validator("*", mode="before", check_fields=False)
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_bool_for_number(cls, value, info.field_name)


class StepSpec(_Strict):
    id: str = Field(pattern=ID_PATTERN, description="unique step id, used in references")
    uses: str = Field(description="the step type (see `artforge steps`)")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="parameters")
    backend: str | None = Field(None, description="override the recipe's backend for this step")
    description: str = ""

    @field_validator("with_", mode="before")
    @classmethod
    def _empty_with(cls, v: Any) -> Any:
        return {} if v is None else v  # `with:` with every line commented out


class GallerySpec(_Strict):
    enabled: bool = Field(True, description="write the HTML gallery at the end of the run")
    title: str | None = Field(None, description="page title (default: the recipe name)")
    thumbnail_size: int = Field(256, ge=32, le=1024, description="thumbnail edge in pixels")


class RecipeSpec(_Strict):
    name: str = Field(
        pattern=NAME_PATTERN, description="run name; the run folder is gallery/<name>"
    )
    description: str = ""
    backend: str = Field("torch", description="default backend of the steps: torch or keras")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    vars: dict[str, Any] = Field(default_factory=dict, description="values used as ${vars.name}")
    plugins: list[str] = Field(
        default_factory=list, description="extra plugin modules or .py files"
    )
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)
    gallery: GallerySpec = Field(default_factory=GallerySpec)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not DEVICE_RE.match(v):
            raise ValueError(f"unknown device {v!r}; use auto, cpu, cuda or cuda:N")
        return v


@dataclass
class Step:
    spec: StepSpec
    index: int
    type: StepType
    params: BaseModel
    backend: str | None
    deps: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class Recipe:
    spec: RecipeSpec
    path: Path
    text: str
    source: SourceMap
    steps: list[Step]  # in dependency order
    overrides: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


# --------------------------------------------------------------------------------------
def load_recipe(path: str | Path, host: Any, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, validate and resolve a recipe file. Raises RecipeError (or PluginError)."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {file}") from None
    except IsADirectoryError:
        raise RecipeError(f"expected a recipe file, got a folder: {file}") from None
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {file}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(
            f"recipe is not UTF-8 text (byte {exc.start})", location=Location(file)
        ) from None
    return parse_recipe(text, host, file=file, overrides=overrides, base_dir=path.parent)


def parse_recipe(
    text: str,
    host: Any,
    *,
    file: str = "<recipe>",
    overrides: list[str] | tuple[str, ...] = (),
    base_dir: Path | None = None,
) -> Recipe:
    data, smap = load_yaml(text, file)
    if data is None:
        raise RecipeError(
            "recipe is empty",
            location=Location(file),
            hint="a recipe needs at least `name:` and `steps:` (see README: Recipes)",
        )
    if not isinstance(data, dict):
        raise RecipeError(
            f"a recipe must be a mapping with `name:` and `steps:`, not a {_kind(data)}",
            location=smap.locate(()),
        )
    for item in overrides:
        _apply_override(data, item, smap)
    data = _substitute_vars(data, smap)

    try:
        spec = RecipeSpec.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc, RecipeSpec, (), smap, data) from None

    # Plugins named by the recipe
    from .errors import PluginError

    base_dir = base_dir or Path.cwd()
    before = set(getattr(host, "infos", {}))
    for i, plugin in enumerate(spec.plugins):
        try:
            host.load_spec(plugin, base_dir)
        except PluginError as exc:
            raise RecipeError(
                exc.message,
                location=smap.locate(("plugins", i)),
                key_path=f"plugins[{i}]",
                hint=exc.hint,
            ) from None
        try:
            host.registry  # noqa: B018 - a clash with installed plugins shows up here
        except PluginError as exc:
            for name in set(getattr(host, "infos", {})) - before:
                host.unregister(name)  # leave the host as it was
            raise RecipeError(
                exc.message,
                location=smap.locate(("plugins", i)),
                key_path=f"plugins[{i}]",
                hint=exc.hint,
            ) from None
    registry = host.registry

    if registry.backends and spec.backend not in registry.backends:
        hint = suggest(spec.backend, registry.backends)
        raise RecipeError(
            f"unknown backend '{spec.backend}'",
            location=smap.locate(("backend",)),
            key_path="backend",
            hint=hint or f"available backends: {', '.join(sorted(registry.backends)) or 'none'}",
        )

    steps: list[Step] = []
    seen: dict[str, int] = {}
    for i, s in enumerate(spec.steps):
        base = ("steps", i)
        if s.id in seen:
            raise RecipeError(
                f"duplicate step id '{s.id}' (also used by step {seen[s.id] + 1})",
                location=smap.locate((*base, "id")),
                key_path=format_path((*base, "id")),
                hint="step ids must be unique",
            )
        seen[s.id] = i
        backend = s.backend or spec.backend
        if s.backend and s.backend not in registry.backends:
            raise RecipeError(
                f"unknown backend '{s.backend}'",
                location=smap.locate((*base, "backend")),
                key_path=format_path((*base, "backend")),
                hint=suggest(s.backend, registry.backends),
            )
        try:
            st = registry.find_step(s.uses, backend)
        except LookupError as exc:
            notes = [host.failure_note(), host.restriction_note()]
            raise RecipeError(
                str(exc),
                location=smap.locate((*base, "uses")),
                key_path=format_path((*base, "uses")),
                hint="; ".join(n for n in notes if n)
                or "`artforge steps` lists the step types of the installed plugins",
            ) from None
        raw_with = (
            (data["steps"][i] or {}).get("with", {}) if isinstance(data["steps"][i], dict) else {}
        )
        try:
            # the registry and backend let a schema accept components plugins registered
            # (train-gan's model, stylize's method) and suggest them for a misspelt name
            params = st.params.model_validate(
                s.with_, context={"registry": registry, "backend": st.backend}
            )
        except ValidationError as exc:
            raise _from_validation(exc, st.params, (*base, "with"), smap, raw_with) from None
        steps.append(Step(s, i, st, params, st.backend))

    # References and the graph
    by_id = {s.id: s for s in steps}
    for s in steps:
        base = ("steps", s.index, "with")
        for key_path, ref_id, output in find_refs(s.spec.with_):
            full = (*base, *key_path)
            if ref_id not in by_id:
                hint = suggest(ref_id, by_id)
                raise RecipeError(
                    f"reference to unknown step '{ref_id}'",
                    location=smap.locate(full),
                    key_path=format_path(full),
                    hint=hint or f"steps in this recipe: {', '.join(by_id)}",
                )
            if ref_id == s.id:
                raise RecipeError(
                    "a step cannot use its own output",
                    location=smap.locate(full),
                    key_path=format_path(full),
                )
            target = by_id[ref_id]
            if output not in target.type.outputs:
                outs = ", ".join(target.type.outputs) or "none"
                hint = suggest(output, target.type.outputs)
                raise RecipeError(
                    f"step '{ref_id}' ({target.type.name}) has no output '{output}'",
                    location=smap.locate(full),
                    key_path=format_path(full),
                    hint=hint or f"its outputs are: {outs}",
                )
            if ref_id not in s.deps:
                s.deps.append(ref_id)
    ordered = _toposort(steps, smap)
    return Recipe(spec, Path(file), text, smap, ordered, list(overrides))


def _toposort(steps: list[Step], smap: SourceMap) -> list[Step]:
    """Kahn's algorithm, stable in recipe order; a cycle is reported with its members."""
    by_id = {s.id: s for s in steps}
    indegree = {s.id: len(s.deps) for s in steps}
    users: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        for d in s.deps:
            users[d].append(s.id)
    ready = [s.index for s in steps if indegree[s.id] == 0]  # a heap of recipe positions
    heapq.heapify(ready)
    by_index = {s.index: s for s in steps}
    order: list[Step] = []
    while ready:
        step = by_index[heapq.heappop(ready)]
        order.append(step)
        for u in users[step.id]:
            indegree[u] -= 1
            if indegree[u] == 0:
                heapq.heappush(ready, by_id[u].index)
    if len(order) != len(steps):
        stuck = [s for s in steps if indegree[s.id] > 0]
        cycle = _find_cycle(stuck, by_id)
        first = by_id[cycle[0]]
        shown = [*cycle, cycle[0]]
        if len(shown) > 12:  # a cycle through thousands of steps: name its ends
            shown = [*shown[:5], f"... ({len(cycle) - 9} more) ...", *shown[-5:]]
        raise RecipeError(
            "steps depend on each other in a cycle: " + " -> ".join(shown),
            location=smap.locate(("steps", first.index, "with")),
            key_path=format_path(("steps", first.index, "with")),
            hint="a step may only use outputs of steps that do not depend on it",
        )
    return order


def _find_cycle(stuck: list[Step], by_id: dict[str, Step]) -> list[str]:
    start = stuck[0].id
    path, seen = [start], {start}
    stuck_ids = {s.id for s in stuck}
    node = start
    while True:
        nxt = next(d for d in by_id[node].deps if d in stuck_ids)
        if nxt in seen:
            return path[path.index(nxt) :]
        path.append(nxt)
        seen.add(nxt)
        node = nxt


# -- --set overrides ----------------------------------------------------------------------
def _apply_override(data: dict, item: str, smap: SourceMap) -> None:
    where = Location(f"--set {item}")
    if "=" not in item:
        raise RecipeError(
            "expected KEY.PATH=VALUE",
            location=where,
            hint="for example --set steps.train.with.epochs=5",
        )
    key, _, value_text = item.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise RecipeError("empty key", location=where)
    try:
        value, _ = load_yaml(value_text, f"--set {item}") if value_text.strip() else (None, None)
    except RecipeError:
        value = value_text
    if value_text.strip() and value is None and value_text.strip() not in ("null", "~"):
        value = value_text
    node: Any = data
    path: tuple = ()
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                ids = [s.get("id") for s in node if isinstance(s, dict)]
                hint = suggest(part, [i for i in ids if i])
                raise RecipeError(
                    f"no step with id '{part}' in {format_path(path)}",
                    location=where,
                    hint=hint or "use a step id or a 0-based index",
                )
            part = idx
        elif not isinstance(node, dict):
            raise RecipeError(
                f"cannot set '{part}' inside {format_path(path)}: not a mapping", location=where
            )
        path = (*path, part)
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node[part]
    smap.overrides[path] = item


def _list_index(node: list, part: str) -> int | None:
    for i, item in enumerate(node):
        if isinstance(item, dict) and item.get("id") == part:
            return i
    if part.isdigit() and int(part) < len(node):
        return int(part)
    return None


# -- variables --------------------------------------------------------------------------
def _substitute_vars(data: dict, smap: SourceMap) -> dict:
    variables = data.get("vars") or {}
    if not isinstance(variables, dict):
        return data

    def sub(value: Any, path: tuple) -> Any:
        if isinstance(value, str) and "${" in value:
            whole = re.fullmatch(r"\$\{vars\.([A-Za-z0-9_-]+)\}", value)
            if whole:
                return lookup(whole.group(1), path)

            def repl(m: re.Match) -> str:
                inner = m.group(1)
                if inner.startswith("vars."):
                    return str(lookup(inner[5:], path))
                return m.group(0)

            return ANY_REF_RE.sub(repl, value)
        if isinstance(value, dict):
            return {
                k: sub(v, (*path, k)) if path != () or k != "vars" else v for k, v in value.items()
            }
        if isinstance(value, list):
            return [sub(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def lookup(name: str, path: tuple) -> Any:
        if name not in variables:
            raise RecipeError(
                f"unknown variable '{name}'",
                location=smap.locate(path),
                key_path=format_path(path),
                hint=suggest(name, variables)
                or f"define it under `vars:` ({', '.join(variables) or 'none defined'})",
            )
        return variables[name]

    return sub(data, ())


# -- pydantic errors -> RecipeError ----------------------------------------------------
def _from_validation(
    exc: ValidationError, model: type[BaseModel], base: tuple, smap: SourceMap, raw: Any
) -> RecipeError:
    errors = exc.errors()
    # a misspelt required key (`stepz:`, `usse:`) is both unknown and missing: name the
    # unknown key first, with its did-you-mean, rather than only "missing required key"
    missing_at = {tuple(e["loc"][:-1]) for e in errors if e["type"] == "missing"}
    errors.sort(
        key=lambda e: not (e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) in missing_at)
    )
    err = errors[0]
    loc = tuple(err["loc"])
    etype = err["type"]
    full = (*base, *loc)
    more = len(errors) - 1
    tail = f" ({more} more problem{'s' if more > 1 else ''} after this one)" if more else ""
    overrides = smap.overrides
    across = etype == "value_error" and isinstance(err.get("input"), dict)  # model validator
    location = smap.locate(full, key=etype == "extra_forbidden" or across)
    for opath, item in overrides.items():
        if tuple(full[: len(opath)]) == tuple(opath):
            location = Location(f"--set {item}")
    if etype == "extra_forbidden":
        key = loc[-1]
        fields = _fields_at(model, loc[:-1])
        hint = suggest(key, fields) if fields else None
        if not hint and fields:
            hint = "valid keys here: " + ", ".join(fields)
        return RecipeError(
            f"unknown key '{key}'{tail}",
            location=location,
            key_path=format_path(full),
            hint=hint,
        )
    if etype == "missing":
        key = loc[-1]
        return RecipeError(
            f"missing required key '{key}'{tail}",
            location=smap.locate(full[:-1]),
            key_path=format_path(full[:-1]) if full[:-1] else None,
            hint=_field_hint(model, loc),
        )
    value = err.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) else _kind(value)
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    pattern = (err.get("ctx") or {}).get("pattern")
    if etype == "string_pattern_mismatch" and pattern in PATTERN_WORDS:
        msg = PATTERN_WORDS[pattern]
    got = f" (got {shown})"
    named = f"got {value!r}" in msg or f"got {value}" in msg
    if across or etype in ("too_long", "too_short", "artforge_name") or named:
        got = ""  # a check across several keys, or a message that names the value already
    # a schema may give its own hint (artforge.params.check_registered: what is registered)
    hint = (err.get("ctx") or {}).get("hint") or _field_hint(model, loc)
    return RecipeError(
        f"{msg}{got}{tail}",
        location=location,
        key_path=format_path(full),
        hint=hint,
    )


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fld = _field(current, part)
        if fld is None:
            return None
        current = _inner_model(fld.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return None


def _field(model: type[BaseModel], key: str):
    for n, f in model.model_fields.items():
        if key in (n, f.alias):
            return f
    return None


def _inner_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None


def _field_hint(model: type[BaseModel], loc: tuple) -> str | None:
    current: Any = model
    fld = None
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            break
        fld = _field(current, part)
        if fld is None:
            break
        current = _inner_model(fld.annotation)
    if fld is not None and fld.description:
        return fld.description
    return None


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )
