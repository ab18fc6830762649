"""The presentation contract: every output says how the gallery shows it.

A step declares the view of an output in the output's metadata, where it writes it::

    out = ctx.image_writer("samples", view="timeline")          # or .finish(view=...)
    art = ctx.file_artifact("table", "scores.json", view="table")

The built-in views:

========== ========= =============================================================
view       kind      shown as
========== ========= =============================================================
grid       images    thumbnails, capped with "show all N", each opening the lightbox
timeline   images    one image per epoch with a slider (``columns=[...]`` names the
                     columns of a sample grid: input / generated / target)
compare    images    a before/after slider against the step's input of the same names
                     (``compare_with="${step.output}"`` picks the input), and the grid
wide       images    full-width sheets (collages, sample grids)
curve      file      a JSON file ``{"series": {name: [[x, y], ...]}}`` as curves
table      file      a JSON file (a list of rows, or a mapping name -> row) or a CSV
                     file as a sortable table
========== ========= =============================================================

A plugin adds a view with the ``register_gallery_views`` hook (docs/plugins.md): its
``render(output)`` gets an :class:`OutputData` and returns an HTML fragment.

Records written before the contract (or outputs that declare nothing) are shown as before:
``samples`` as a timeline, ``collage`` sheets wide, everything else as a grid, with a
before/after slider wherever an output has an input's image names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from ..errors import PluginError

BUILTIN = {
    "grid": ("images",),
    "timeline": ("images",),
    "compare": ("images",),
    "wide": ("images",),
    "curve": ("file",),
    "table": ("file",),
}
ALIASES = {"full": "wide"}  # the older ``display`` metadata


@dataclass
class OutputData:
    """What a plugin view gets: one output of one step, with everything to show it.

    ``files``: (URL, name) of each file, relative to the page (images: originals);
    ``thumbs``: URL of each image's thumbnail (same order; empty for files); ``meta``: the
    output's metadata; ``record``: the step's whole record; ``read_text(url)``: the text of
    one of ``files`` (through the gallery's link-safe reader), or None."""

    step: str
    name: str
    kind: str
    label: str
    files: list[tuple[str, str]]
    thumbs: list[str]
    meta: dict[str, Any]
    record: dict[str, Any]
    read_text: Callable[[str], str | None] = field(repr=False, default=lambda url: None)


@dataclass
class GalleryView:
    """A way to show outputs: its name (what ``view=`` says), the output kinds it accepts
    (``images``, ``file``, ``model``), ``render(output: OutputData) -> str`` (an HTML
    fragment: escape every text with :func:`markupsafe.escape`), and one line of words."""

    name: str
    render: Callable[[OutputData], Any] | None = None
    kinds: tuple[str, ...] = ("images",)
    description: str = ""
    plugin: str = "artforge"


def builtin_views() -> dict[str, GalleryView]:
    return {
        name: GalleryView(name, None, kinds, "built-in view") for name, kinds in BUILTIN.items()
    }


def collect_views(host: Any) -> dict[str, GalleryView]:
    """The built-in views and those plugins of ``host`` register (``register_gallery_views``)."""
    views = builtin_views()
    if host is None:
        return views
    hook = getattr(host.pm.hook, "register_gallery_views", None)
    if hook is None:
        return views
    for impl in hook.get_hookimpls():
        plugin = impl.plugin_name

        def register(
            name: str,
            render: Callable[[OutputData], Any],
            kinds: tuple[str, ...] | list[str] | str = ("images",),
            description: str = "",
            _plugin: str = plugin,
        ) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin '{_plugin}': a gallery view needs a name (a string)")
            if name in views:
                raise PluginError(
                    f"plugin '{_plugin}' registers the gallery view '{name}', which "
                    f"{views[name].plugin} already registered",
                    hint="give the view a name of its own, e.g. '<plugin>-" + name + "'",
                )
            if not callable(render):
                raise PluginError(
                    f"plugin '{_plugin}': gallery view '{name}' has no render(output) function"
                )
            ks = (kinds,) if isinstance(kinds, str) else tuple(kinds)
            views[name] = GalleryView(name, render, ks, str(description), _plugin)

        try:
            impl.function(**{a: register for a in impl.argnames if a == "register"})
        except PluginError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin never ends artforge
            raise PluginError(
                f"plugin '{plugin}' failed in hook register_gallery_views: "
                f"{type(exc).__name__}: {exc}",
                hint="run with --debug for the traceback",
            ) from exc
    return views


def declared(out: dict) -> str | None:
    """The view an output declares (``meta.view``; the older ``meta.display`` too)."""
    meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
    for key in ("view", "display"):
        v = meta.get(key)
        if isinstance(v, str) and v:
            return ALIASES.get(v, v)
    return None


def legacy_view(record: dict, name: str, out: dict) -> str:
    """How an output that declares nothing is shown (records made before the contract)."""
    meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
    if out.get("kind") != "images":
        return "file"
    if name == "samples" or meta.get("timeline") or meta.get("kind") == "epoch-samples":
        return "timeline"
    if record.get("uses") == "collage" or name in ("sheets", "collage"):
        return "wide"
    return "grid"


def view_of(record: dict, name: str, out: dict, views: dict[str, GalleryView]) -> tuple[str, str]:
    """(view name, note): the declared view when it exists for this kind of output, else the
    default one and a note saying why."""
    want = declared(out)
    kind = str(out.get("kind") or "")
    fallback = legacy_view(record, name, out)
    if want is None:
        return fallback, ""
    view = views.get(want)
    if view is None:
        return fallback, (
            f"this output asks for the view '{want}', which no installed plugin provides; "
            f"shown as {fallback}"
        )
    if kind not in view.kinds:
        return fallback, f"the view '{want}' does not show {kind} outputs; shown as {fallback}"
    return want, ""


def render_plugin_view(view: GalleryView, data: OutputData) -> tuple[Markup, str]:
    """A plugin view's HTML, or an empty fragment and the error in words."""
    try:
        html = view.render(data)
    except Exception as exc:  # noqa: BLE001 - a broken view never breaks the page
        return Markup(""), f"the gallery view '{view.name}' of plugin '{view.plugin}' failed: " + (
            f"{type(exc).__name__}: {exc}"
        )
    if html is None:
        return Markup(""), ""
    return Markup(str(html)), ""


def script_json(data: Any) -> Markup:
    """JSON safe to put inside ``<script type="application/json">``."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return Markup(
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


__all__ = [
    "GalleryView",
    "OutputData",
    "collect_views",
    "declared",
    "escape",
    "script_json",
    "view_of",
]
