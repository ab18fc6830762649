"""``artforge new-plugin NAME``: write a plugin package that installs and passes its tests.

The package (``artforge-NAME/``) holds a pyproject with the ``artforge`` entry point, a
module registering one step with a parameter schema, the step's code, a test that runs the
step in a recipe through :func:`artforge.api.run_recipe`, a README and a .gitignore.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import ArtforgeError
from .templates import FILES

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
RESERVED = {"builtin_steps", "torch", "keras", "tensorflow", "artforge", "api", "test", "tests"}


@dataclass
class Skeleton:
    name: str  # plugin and entry-point name
    dist: str  # distribution: artforge-NAME
    package: str  # import package: artforge_NAME
    step: str  # the step type it registers
    root: Path  # the folder written
    files: list[str]


def supported_versions(version: str = __version__) -> str:
    """``>=0.1,<0.2`` for 0.x releases, ``>=1.2,<2`` from 1.0 on."""
    major, minor = (int(x) for x in re.findall(r"\d+", version)[:2])
    if major == 0:
        return f">=0.{minor},<0.{minor + 1}"
    return f">={major}.{minor},<{major + 1}"


def plugin_names(name: str) -> tuple[str, str, str, str]:
    """(plugin name, distribution, package, step type) for NAME; raises ArtforgeError."""
    raw = name
    name = name.strip()
    for prefix in ("artforge-", "artforge_"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if not NAME_RE.match(name) or len(name) > 40:
        lower = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        fits = NAME_RE.match(lower) and len(lower) <= 40
        hint = f"for example: artforge new-plugin {lower}" if fits else None
        raise ArtforgeError(
            f"invalid plugin name {raw!r}: use up to 40 lowercase letters, digits and "
            "single hyphens, starting with a letter",
            hint=hint or "for example: artforge new-plugin glitch-tools",
        )
    ident = name.replace("-", "_")
    if ident in RESERVED or keyword.iskeyword(ident):
        raise ArtforgeError(
            f"the plugin name {name!r} is taken by artforge itself", hint="choose another name"
        )
    return (
        ident,
        f"artforge-{name.replace('_', '-')}",
        f"artforge_{ident}",
        f"{name.replace('_', '-')}-posterize",
    )


def create_plugin(name: str, directory: str | Path = ".") -> Skeleton:
    """Write ``artforge-NAME/`` into ``directory``; refuses to overwrite anything."""
    plugin, dist, package, step = plugin_names(name)
    root = Path(directory) / dist
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ArtforgeError(
            f"{root} already exists and is not empty",
            hint="choose another name or remove the folder (--dir writes elsewhere)",
        )
    values = {
        "__NAME_ID__": plugin,
        "__NAME__": plugin,
        "__DIST__": dist,
        "__PKG__": package,
        "__STEP__": step,
        "__REQUIRES__": supported_versions(),
    }

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    written = []
    try:
        for rel, text in FILES.items():
            path = root / fill(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(fill(text), encoding="utf-8")
            written.append(fill(rel))
    except OSError as exc:
        raise ArtforgeError(f"cannot write {root}: {exc.strerror or exc}") from None
    return Skeleton(plugin, dist, package, step, root, written)
