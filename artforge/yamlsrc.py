"""Safe YAML loading that remembers where every value came from.

``load_yaml`` returns plain Python data (dicts, lists, str, int, float, bool, None) plus a
:class:`SourceMap` from key paths such as ``("steps", 1, "with", "epochs")`` to file
positions, so that any later validation error can point at ``file:line:column``.

Only the safe YAML constructors are used: a ``!!python/object`` (or any other unknown) tag is
an error, never an object. ``2e-4`` is read as a number (YAML 1.2), duplicate keys are an
error, and alias expansion is bounded (no "billion laughs").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Location, RecipeError

Path_ = tuple  # a key path: tuple of str | int

MAX_NODES = 200_000


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as ``2e-4`` and ``1E5``."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


@dataclass
class SourceMap:
    """Positions of values (and of keys) in a YAML file, by key path."""

    file: str
    values: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    keys: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    overrides: dict[tuple, str] = field(default_factory=dict)  # key path -> "--set k=v"

    def locate(self, path: tuple, *, key: bool = False) -> Location:
        """Best position for ``path``: the exact value (or key), else the nearest parent."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                line, col = table[p]
                return Location(self.file, line, col)
            if not key and p in self.keys:
                line, col = self.keys[p]
                return Location(self.file, line, col)
            p = p[:-1]
        if () in self.values:
            line, col = self.values[()]
            return Location(self.file, line, col)
        return Location(self.file)


def format_path(path: tuple) -> str:
    """``("steps", 1, "with", "epochs")`` -> ``steps[1].with.epochs``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def load_yaml(text: str, file: str = "<recipe>") -> tuple[Any, SourceMap]:
    """Parse ``text`` safely; return (data, source map). Raises RecipeError."""
    smap = SourceMap(file)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc, file) from None
        except yaml.YAMLError as exc:
            raise RecipeError(f"invalid YAML: {exc}", location=Location(file)) from None
        if node is None:
            return None, smap
        counter = [0]
        data = _convert(loader, node, (), smap, counter)
        return data, smap
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.MarkedYAMLError, file: str) -> RecipeError:
    mark = exc.problem_mark or exc.context_mark
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = exc.problem or "invalid YAML"
    hint = None
    if "\t" in (problem or "") or "tab" in (problem or ""):
        hint = "YAML does not allow tabs for indentation: indent with spaces"
    elif exc.context:
        problem = f"{problem} ({exc.context})"
    if "found character '\\t'" in str(exc):
        hint = "YAML does not allow tabs for indentation: indent with spaces"
    return RecipeError(f"invalid YAML: {problem}", location=loc, hint=hint)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(loader: _Loader, node: yaml.Node, path: tuple, smap: SourceMap, counter: list) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise RecipeError(
            f"recipe is too large (more than {MAX_NODES} values after expanding aliases)",
            location=smap.locate(path),
        )
    smap.values.setdefault(path, _pos(node))
    standard = {
        yaml.MappingNode: "tag:yaml.org,2002:map",
        yaml.SequenceNode: "tag:yaml.org,2002:seq",
    }
    if type(node) in standard and node.tag != standard[type(node)]:
        line, col = _pos(node)
        raise RecipeError(
            f"unsupported YAML tag {node.tag!r}",
            location=Location(smap.file, line, col),
            key_path=format_path(path) if path else None,
            hint="recipes never build Python objects; write plain values",
        )
    if isinstance(node, yaml.MappingNode):
        try:
            loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc, smap.file) from None
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _pos(key_node)
                raise RecipeError(
                    "a key must be a plain string", location=Location(smap.file, line, col)
                )
            key = _scalar(loader, key_node, path, smap)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                line, col = _pos(key_node)
                raise RecipeError(
                    "a key must be a plain string", location=Location(smap.file, line, col)
                )
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                line, col = _pos(key_node)
                first = smap.keys.get((*path, key))
                where = f" (first defined on line {first[0]})" if first else ""
                raise RecipeError(
                    f"duplicate key '{key}'{where}",
                    location=Location(smap.file, line, col),
                    key_path=format_path((*path, key)),
                    hint="remove or rename one of them",
                )
            smap.keys[(*path, key)] = _pos(key_node)
            out[key] = _convert(loader, value_node, (*path, key), smap, counter)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(loader, item, (*path, i), smap, counter) for i, item in enumerate(node.value)
        ]
    return _scalar(loader, node, path, smap)


def _scalar(loader: _Loader, node: yaml.Node, path: tuple, smap: SourceMap) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as exc:
        line, col = _pos(node)
        tag = node.tag
        hint = None
        if "python" in (tag or ""):
            hint = "recipes never build Python objects; write plain values"
        raise RecipeError(
            f"unsupported YAML tag {tag!r}"
            if tag and tag.startswith("!") or "python" in (tag or "")
            else f"invalid value: {exc.problem}",
            location=Location(smap.file, line, col),
            key_path=format_path(path) if path else None,
            hint=hint,
        ) from None
