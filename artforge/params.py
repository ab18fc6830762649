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
        required = field.is_required()
        default = None if required else field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump()
        rows.append(
            {
                "name": key,
                "type": type_name,
                "required": required,
                "default": default,
                "description": field.description or "",
            }
        )
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
