"""Typed parameter schemas for steps.

A step type declares its parameters as a :class:`Params` subclass (pydantic). The recipe's
``with:`` mapping is validated against it: unknown keys are rejected with a close-match
suggestion, types are checked, and every default lives in one place.

Inputs from earlier steps are written ``${step_id.output}`` and typed :data:`InputRef`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

REF_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_.-]*)\}$")
ANY_REF_RE = re.compile(r"\$\{([^}]*)\}")


def takes_number_not_bool(annotation: Any) -> bool:
    """True if a field of this type accepts int or float but not bool (``int``,
    ``float | None``, ``Annotated[int, ...]``)."""
    import types
    import typing

    seen: set = set()

    def flatten(ann: Any) -> None:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            flatten(typing.get_args(ann)[0])
        elif origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(ann):
                flatten(arg)
        else:
            seen.add(ann)

    flatten(annotation)
    return bool(seen & {int, float}) and not seen & {bool, Any}


def reject_bool_for_number(model: type[BaseModel], value: Any, field_name: str | None) -> Any:
    """pydantic reads ``true`` as 1 for an int field; YAML reads ``yes``/``on`` as true, so
    ``epochs: yes`` would silently train for one epoch. Refuse it instead."""
    if isinstance(value, bool) and field_name is not None:
        fld = model.model_fields.get(field_name)
        if fld is not None and takes_number_not_bool(fld.annotation):
            raise ValueError(
                "expected a number, not a boolean (YAML reads yes, no, on, off, true and false "
                "as booleans)"
            )
    return value


class Params(BaseModel):
    """Base class of every step's parameter schema: unknown keys are errors, and so are a
    boolean where a number is expected and a non-finite float (``.nan``, ``.inf``)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_default=True, allow_inf_nan=False
    )

    @field_validator("*", mode="before", check_fields=False)
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        return reject_bool_for_number(cls, value, info.field_name)


def _check_ref(value: str) -> str:
    if not REF_RE.match(value):
        raise ValueError(
            f"expected a reference to an earlier step's output such as '${{scenes.night}}', got {value!r}"
        )
    return value


InputRef = Annotated[
    str,
    AfterValidator(_check_ref),
    Field(json_schema_extra={"artforge_ref": True}),
]
"""A reference ``${step_id.output}`` to another step's output (resolved with ``ctx.input``)."""


def parse_ref(value: str) -> tuple[str, str] | None:
    """``'${scenes.night}'`` -> ``('scenes', 'night')``; anything else -> None."""
    m = REF_RE.match(value) if isinstance(value, str) else None
    return (m.group(1), m.group(2)) if m else None


def find_refs(value: Any, path: tuple = ()) -> list[tuple[tuple, str, str]]:
    """All references inside a (nested) parameter value, as (key path, step id, output)."""
    found: list[tuple[tuple, str, str]] = []
    if isinstance(value, str):
        ref = parse_ref(value)
        if ref:
            found.append((path, *ref))
    elif isinstance(value, dict):
        for k, v in value.items():
            found.extend(find_refs(v, (*path, k)))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found.extend(find_refs(v, (*path, i)))
    return found


def describe_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One row per parameter: name, type, default, required, description (for ``artforge steps``)."""
    rows = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        ann = field.annotation
        type_name = _type_name(ann)
        if any(
            getattr(m, "json_schema_extra", None) == {"artforge_ref": True} for m in field.metadata
        ):
            type_name = "reference"
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        kind = extra.get("artforge_component")
        if kind:  # a built-in choice or a registered component (see component_field)
            names = [repr(n) for n in extra.get("artforge_builtin", ())]
            type_name = " | ".join([*names, f"registered {COMPONENT_NOUNS.get(kind, kind)}"])
        required = field.is_required()
        default = None if required else field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump()
        row = {
            "name": key,
            "type": type_name,
            "required": required,
            "default": default,
            "description": field.description or "",
        }
        if kind:
            row["component"] = kind
            row["builtin"] = list(extra.get("artforge_builtin", ()))
        rows.append(row)
    return rows


def _type_name(ann: Any) -> str:
    """Readable type names: ``int``, ``list[reference]``, ``'a' | 'b'``, ``str | None``."""
    import types
    import typing

    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        if any(getattr(m, "json_schema_extra", None) == {"artforge_ref": True} for m in args[1:]):
            return "reference"
        return _type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if ann is type(None):
        return "None"
    return getattr(ann, "__name__", str(ann))


# -- names of registered components (train-gan's model, stylize's method) ---------------------
COMPONENT_NOUNS = {"trainer": "GAN trainer", "style-optimiser": "style optimiser"}


def component_field(
    kind: str,
    builtin: tuple[str, ...],
    default: str,
    description: str,
    aliases: dict[str, str] | None = None,
) -> Any:
    """A ``str`` parameter naming a built-in choice or a component a plugin registered
    (validate it with :func:`check_registered`); ``artforge steps`` lists the registered ones
    (but not ``aliases``, registered names of the built-in choices)."""
    extra = {"artforge_component": kind, "artforge_builtin": [*builtin, *(aliases or {})]}
    return Field(default, description=description, json_schema_extra=extra)


def registered_names(registry: Any, kind: str, backend: str | None, exclude: Any = ()) -> list[str]:
    """The ``kind`` components a recipe may name for ``backend``: the backend's own and the
    backend-free ones; of the trainers, those registered with ``data=`` (what train-gan runs)."""
    if registry is None:
        return []
    return sorted(
        {
            c.name
            for (k, _, b), c in registry.components.items()
            if k == kind
            and b in (backend, None)
            and c.name not in exclude
            and (kind != "trainer" or c.data is not None)
        }
    )


def registered_component(info: ValidationInfo, kind: str, name: str) -> Any:
    """The registered component ``name`` for the validation context's backend, or None (no
    registry in the context, or not registered)."""
    context = info.context or {}
    registry = context.get("registry")
    if registry is None:
        return None
    backend = context.get("backend")
    for key in ((kind, name, backend), (kind, name, None)):
        if key in registry.components:
            return registry.components[key]
    return None


def check_registered(
    value: str,
    info: ValidationInfo,
    *,
    kind: str,
    builtin: tuple[str, ...],
    what: str,
    aliases: dict[str, str] | None = None,
) -> str:
    """Accept a built-in choice (or an alias of one, returned as the built-in), or the name of
    a ``kind`` component registered for the step's backend. The registry and backend come from
    the validation context, ``model_validate(data, context={"registry": ..., "backend": ...})``
    (the recipe loader passes them); without a registry only built-in choices are accepted.
    A rejected name gets a did-you-mean over built-in and registered names, and a name
    registered for another backend only says which backend has it."""
    from pydantic_core import PydanticCustomError

    from .errors import suggest

    aliases = aliases or {}
    if value in builtin:
        return value
    if value in aliases:
        return aliases[value]
    context = info.context or {}
    registry, backend = context.get("registry"), context.get("backend")
    noun = COMPONENT_NOUNS.get(kind, kind)
    known = registered_names(registry, kind, backend, exclude=(*builtin, *aliases))
    if value in known:
        return value

    def fail(message: str, hint: str | None) -> PydanticCustomError:
        return PydanticCustomError("artforge_name", "{message}", {"message": message, "hint": hint})

    parts = [f"built-in: {', '.join(builtin)}"] if builtin else []
    if known:
        parts.append(f"registered for backend {backend}: {', '.join(known)}")
    listing = "; ".join(parts)
    if registry is None:
        mean = suggest(value, (*builtin, *aliases))
        raise fail(
            f"unknown {what} '{value}'" + (f"; {mean}" if mean else ""),
            f"{listing}; a {noun} a plugin registers is accepted when the recipe is loaded "
            "(validation with the plugin registry)",
        )
    same = [
        c
        for (k, n, b), c in registry.components.items()
        if k == kind and n == value and b in (backend, None)
    ]
    if same:  # registered, but not something this parameter can name (a trainer without data=)
        c = same[0]
        raise fail(
            f"{c.kind} '{value}' of plugin '{c.plugin}' is not a {noun}: it is registered "
            "without data=",
            f"{listing}; a {noun} is registered with data='paired', 'unpaired' or 'images'",
        )
    others = sorted({b for (k, n, b) in registry.components if k == kind and n == value} - {None})
    if others:
        where = ", ".join(others)
        raise fail(
            f"{what} '{value}' is a {noun} registered for backend {where} only, not for "
            f"backend {backend}",
            f"set backend: {others[0]} on this step (`artforge plugins` lists what each "
            "plugin registers)",
        )
    mean = suggest(value, (*builtin, *known, *aliases))
    raise fail(
        f"unknown {what} '{value}' for backend {backend}" + (f"; {mean}" if mean else ""),
        listing if known else "; ".join([*parts, f"no {noun} is registered for backend {backend}"]),
    )
