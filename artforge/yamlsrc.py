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


_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))

_FastLoader: type | None = None
if getattr(yaml, "CSafeLoader", None) is not None:  # libyaml: the same grammar, ~10x faster

    class _FastLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        """libyaml's parser with the safe constructors and the YAML 1.2 floats above."""

    _FastLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789.")
    )

MAX_DEPTH = 64  # nesting levels; recipes need fewer than 10


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
    # libyaml parses; on an error the pure-Python parser words the message (tabs, context)
    loaders = [c for c in (_FastLoader, _Loader) if c is not None]
    for n, cls in enumerate(loaders):
        last = n == len(loaders) - 1
        loader = None
        try:
            try:
                loader = cls(text)  # the pure-Python reader refuses control characters here
                node = _compose(loader, file)
            except yaml.MarkedYAMLError as exc:
                if not last:
                    continue
                raise _yaml_error(exc, file) from None
            except yaml.reader.ReaderError as exc:
                if not last:
                    continue
                raise _reader_error(exc, text, file) from None
            except yaml.YAMLError as exc:
                if not last:
                    continue
                raise RecipeError(f"invalid YAML: {exc}", location=Location(file)) from None
            if node is None:
                return None, smap
            counter = [0]
            try:
                data = _convert(loader, node, (), smap, counter)
            except RecursionError:  # a self-referencing alias such as `a: &a [*a]`
                raise RecipeError(
                    f"invalid YAML: values nested more than {MAX_DEPTH} levels deep",
                    location=Location(file),
                    hint="an alias may not refer to the value that contains it",
                ) from None
            return data, smap
        finally:
            if loader is not None:
                loader.dispose()
    raise AssertionError("unreachable")  # pragma: no cover


def _compose(loader: Any, file: str) -> yaml.Node | None:
    """The document's node tree, built without recursion (deep nesting is an error, not a
    crash: libyaml's own composer recurses in C and overflows the stack on ``[[[[...``)."""
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        loader.get_event()
        return None
    loader.get_event()  # document start
    anchors: dict[str, yaml.Node] = {}
    stack: list[list] = []  # [container node, pending mapping key or None]
    root = None
    while root is None:
        event = loader.get_event()
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            node = stack.pop()[0]
            node.end_mark = event.end_mark
            if not stack:
                root = node
            continue
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {event.anchor!r}", event.start_mark
                )
            node = anchors[event.anchor]
        else:
            if isinstance(event, yaml.ScalarEvent):
                kind: type = yaml.ScalarNode
            elif isinstance(event, yaml.SequenceStartEvent):
                kind = yaml.SequenceNode
            elif isinstance(event, yaml.MappingStartEvent):
                kind = yaml.MappingNode
            else:  # pragma: no cover - the parser guarantees the order of events
                raise yaml.composer.ComposerError(
                    None, None, f"unexpected {type(event).__name__}", event.start_mark
                )
            tag = event.tag
            if tag is None or tag == "!":
                value = event.value if kind is yaml.ScalarNode else None
                tag = loader.resolve(kind, value, event.implicit)
            if kind is yaml.ScalarNode:
                node = yaml.ScalarNode(
                    tag, event.value, event.start_mark, event.end_mark, style=event.style
                )
            else:
                node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise yaml.composer.ComposerError(
                        f"found duplicate anchor {event.anchor!r}; first occurrence",
                        anchors[event.anchor].start_mark,
                        "second occurrence",
                        event.start_mark,
                    )
                anchors[event.anchor] = node
        if stack:
            parent = stack[-1]
            if isinstance(parent[0], yaml.SequenceNode):
                parent[0].value.append(node)
            elif parent[1] is None:
                parent[1] = node
            else:
                parent[0].value.append((parent[1], node))
                parent[1] = None
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)) and not isinstance(
            event, yaml.AliasEvent
        ):
            if len(stack) >= MAX_DEPTH:
                line, col = _pos(node)
                raise RecipeError(
                    f"invalid YAML: values nested more than {MAX_DEPTH} levels deep",
                    location=Location(file, line, col),
                )
            stack.append([node, None])
        elif not stack:
            root = node
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        event = loader.get_event()
        raise yaml.composer.ComposerError(
            "expected a single document in the stream",
            root.start_mark,
            "but found another document",
            event.start_mark,
        )
    loader.get_event()
    return root


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> RecipeError:
    """A character YAML does not allow (a NUL, a control character): where it is."""
    pos = exc.position if isinstance(exc.position, int) else 0
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = exc.character
    shown = f"#x{char:04x}" if isinstance(char, int) else f"#x{ord(char):04x}"
    return RecipeError(
        f"invalid YAML: the control character {shown} is not allowed in a recipe",
        location=Location(file, line, col),
        hint="save the recipe as plain UTF-8 text",
    )


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


def _convert(loader: Any, node: yaml.Node, path: tuple, smap: SourceMap, counter: list) -> Any:
    counter[0] += 1
    if len(path) > MAX_DEPTH:
        raise RecursionError  # only an alias inside itself gets here: _compose bounds the rest
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


def _scalar(loader: Any, node: yaml.Node, path: tuple, smap: SourceMap) -> Any:
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
