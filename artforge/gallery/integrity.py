"""Reading a run's ``manifest.json`` and step records, refusing what artforge did not write.

A run directory may be damaged or edited by hand. The gallery reads only what has the shape
artforge writes: a file that is not JSON, or holds a value of the wrong type where the pages
expect a list, a mapping or a name (a step without an id, a list of files that is a string,
a loss series that is text), makes the run *unreadable*: ``artforge gallery build`` on it exits
with status 2 naming the file and the key, and the index of runs shows it as an "unreadable"
card while every other run is listed as usual. Values the pages show as they are stay
accepted: any text, any number (non-finite losses raise a divergence alert), a record that is
missing (its step is shown as pending), a file path that leaves the run (skipped).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import safefs
from ..errors import ArtforgeError
from .model import safe_rel

NUMBER = (int, float)
SCALAR = (str, int, float, bool, type(None))


class RunUnreadable(ArtforgeError):
    """A run's manifest.json or record.json is not what artforge wrote (damaged or edited)."""

    def __init__(self, file: Path, problem: str):
        super().__init__(
            f"{file}: {problem}",
            hint="artforge wrote this file differently: restore it, fix it by hand, or run "
            "the recipe again into a new folder; the other runs are not affected",
        )
        self.file = file
        self.problem = problem


def read_run(run_dir: Path) -> tuple[dict, dict[str, dict]] | None:
    """The manifest and the records of a run, by step id; None when ``run_dir`` has no
    manifest.json. Raises :class:`RunUnreadable` for a file artforge did not write so."""
    path = run_dir / "manifest.json"
    if safefs.regular_file(run_dir, "manifest.json") is None:
        return None  # missing, or a link (never read through one)
    manifest = _load(run_dir, "manifest.json")
    _check(path, manifest, MANIFEST)
    if isinstance(manifest.get("recipe"), dict):
        _check(path, manifest["recipe"], RECIPE, "recipe")
    seen: set[str] = set()
    for i, entry in enumerate(manifest["steps"]):
        _check(path, entry, STEP_ENTRY, f"steps[{i}]")
        if entry["id"] in seen:
            raise RunUnreadable(path, f"steps[{i}].id: the step id {entry['id']!r} appears twice")
        seen.add(entry["id"])
    records: dict[str, dict] = {}
    for entry in manifest["steps"]:
        rel = safe_rel(entry.get("record") or f"steps/{entry['id']}/record.json")
        if rel is None or safefs.regular_file(run_dir, rel) is None:
            continue  # a step that has not run (or a path that leaves the run, or a link)
        rec_path = run_dir / rel
        rec = _load(run_dir, rel)
        _check(rec_path, rec, RECORD)
        for name, out in (rec.get("outputs") or {}).items():
            _check(rec_path, out, OUTPUT, f"outputs.{name}")
        for name, points in (rec.get("series") or {}).items():
            for n, point in enumerate(points):
                if not _is_point(point):
                    raise RunUnreadable(
                        rec_path,
                        f"series.{name}[{n}] is {_shown(point)}, expected a number or an "
                        "[x, y] pair of numbers",
                    )
        records[entry["id"]] = _normalise(rec)
    return manifest, records


def _load(run_dir: Path, rel: str) -> Any:
    path = run_dir / rel
    try:
        with safefs.open_inside(run_dir, rel) as fh:
            text = fh.read().decode("utf-8")
    except UnicodeDecodeError:
        raise RunUnreadable(path, "not UTF-8 text") from None
    except OSError as exc:
        raise RunUnreadable(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RunUnreadable(path, f"not valid JSON ({exc})") from None


# key -> (accepted types, required); containers are checked one level down by read_run
MANIFEST: dict[str, tuple[tuple[type, ...], bool]] = {
    "steps": ((list,), True),
    "recipe": ((dict, type(None)), False),
    "gallery": ((dict, type(None)), False),
    "versions": ((dict, type(None)), False),
    "command": ((str, type(None)), False),
    "seconds": ((*NUMBER, type(None)), False),
    **{k: (SCALAR, False) for k in ("title", "status", "started", "finished", "backend")},
    **{k: (SCALAR, False) for k in ("device", "seed", "artforge_version")},
}
RECIPE: dict[str, tuple[tuple[type, ...], bool]] = {
    "overrides": ((list, type(None)), False),
    **{k: (SCALAR, False) for k in ("name", "description", "file", "sha256")},
}
STEP_ENTRY: dict[str, tuple[tuple[type, ...], bool]] = {
    "id": ((str,), True),
    "record": ((str, type(None)), False),
    "seconds": ((*NUMBER, type(None)), False),
    **{k: (SCALAR, False) for k in ("uses", "status", "description", "error", "backend")},
}
RECORD: dict[str, tuple[tuple[type, ...], bool]] = {
    **{k: ((dict, type(None)), False) for k in ("outputs", "metrics", "series", "info")},
    **{k: ((dict, type(None)), False) for k in ("params", "versions")},
    "warnings": ((list, type(None)), False),
    "seconds": ((*NUMBER, type(None)), False),
    **{k: (SCALAR, False) for k in ("id", "uses", "plugin", "plugin_version", "backend")},
    **{k: (SCALAR, False) for k in ("device", "key", "seed", "started", "status")},
}
OUTPUT: dict[str, tuple[tuple[type, ...], bool]] = {
    "kind": ((str,), True),
    "path": ((str, type(None)), False),
    "file": ((str, type(None)), False),
    "files": ((list, type(None)), False),
    "meta": ((dict, type(None)), False),
    "labels": ((list, type(None)), False),
}
NAMES = {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number"}


def _check(path: Path, value: Any, schema: dict, where: str = "") -> None:
    at = f"{where}: " if where else ""
    if not isinstance(value, dict):
        raise RunUnreadable(path, f"{at}{_shown(value)} where a mapping belongs")
    for key, (types, required) in schema.items():
        if key not in value:
            if required:
                raise RunUnreadable(path, f"{at}the key '{key}' is missing")
            continue
        v = value[key]
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
            wanted = " or ".join(dict.fromkeys(NAMES[t] for t in types if t in NAMES))
            raise RunUnreadable(
                path, f"{where + '.' if where else ''}{key} is {_shown(v)}, expected {wanted}"
            )
    if schema is OUTPUT:
        for n, f in enumerate(value.get("files") or []):
            if not isinstance(f, str):
                raise RunUnreadable(path, f"{where}.files[{n}] is {_shown(f)}, expected a name")
    if schema is RECORD:
        for name, points in (value.get("series") or {}).items():
            if not isinstance(points, list):
                raise RunUnreadable(path, f"series.{name} is {_shown(points)}, expected a list")


def _is_point(p: Any) -> bool:
    def num(x: Any) -> bool:
        return x is None or (isinstance(x, NUMBER) and not isinstance(x, bool))

    if isinstance(p, list):
        return len(p) >= 2 and all(num(x) for x in p)
    return num(p)


def _shown(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    text = json.dumps(v) if not isinstance(v, float) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _normalise(rec: dict) -> dict:
    """The record with every container present (a missing key reads as empty)."""
    for key in ("outputs", "metrics", "series", "info", "params", "versions"):
        if rec.get(key) is None:
            rec[key] = {}
    if rec.get("warnings") is None:
        rec["warnings"] = []
    return rec
