"""The register_gallery_views hook: a plugin's own view of an output, and its errors."""

from __future__ import annotations

import json

import pytest
from markupsafe import escape

from artforge.api import hookimpl
from artforge.errors import PluginError
from artforge.gallery import build_gallery
from artforge.plugins import PluginHost
from tests.gallery.synth import make_run


class StripView:
    """A throwaway plugin: the view "strip" lists an output's files and its label."""

    seen: list = []

    @hookimpl
    def register_gallery_views(self, register):
        def render(output):
            StripView.seen.append(output)
            items = "".join(f"<li>{escape(name)}</li>" for _, name in output.files)
            return f'<ol class="strip-view" data-label="{escape(output.label)}">{items}</ol>'

        register("strip", render, kinds=("images", "file"), description="names in a list")


def _host(*plugins) -> PluginHost:
    host = PluginHost(load_installed=False)
    for n, plugin in enumerate(plugins):
        host.add_module(plugin, name=f"views{n}", source="test")
    return host


def _declare(run, step: str, output: str, view: str) -> None:
    path = run / "steps" / step / "record.json"
    rec = json.loads(path.read_text())
    rec["outputs"][output].setdefault("meta", {})["view"] = view
    path.write_text(json.dumps(rec))


def test_hook_register_gallery_views(tmp_path):
    run = make_run(tmp_path / "gallery")
    _declare(run, "translate", "images", "strip")
    StripView.seen = []
    html = build_gallery(run, host=_host(StripView())).read_text()
    section = html[html.index('id="step-translate"') : html.index('id="step-sheet"')]
    assert '<div class="plugin-view" data-view="strip"><ol class="strip-view"' in section
    assert section.count("<li>") == 8 and "<li>scene00000.png</li>" in section
    (out,) = StripView.seen
    assert out.step == "translate" and out.name == "images" and out.kind == "images"
    assert out.files[0] == ("steps/translate/images/scene00000.png", "scene00000.png")
    assert len(out.thumbs) == 8 and out.record["uses"] == "translate"


def test_a_view_nobody_provides_falls_back_with_a_note(tmp_path):
    run = make_run(tmp_path / "gallery")
    _declare(run, "translate", "images", "strip")
    html = build_gallery(run, host=_host()).read_text()
    section = html[html.index('id="step-translate"') : html.index('id="step-sheet"')]
    assert "asks for the view &#39;strip&#39;, which no installed plugin provides" in section
    assert 'class="grid"' in section  # shown as the default grid


def test_declared_built_in_views_replace_the_guess(tmp_path):
    run = make_run(tmp_path / "gallery")
    _declare(run, "sheet", "sheets", "grid")  # a collage that asks for a grid, not wide
    _declare(run, "translate", "images", "wide")  # and a translation shown wide: no slider
    html = build_gallery(run, host=_host()).read_text()
    sheet = html[html.index('id="step-sheet"') :]
    assert '<div class="grid">' in sheet[: sheet.index("</section>")]
    section = html[html.index('id="step-translate"') : html.index('id="step-sheet"')]
    assert 'class="cmp"' not in section and '<div class="wide">' in section


def test_duplicate_and_broken_views(tmp_path):
    class Twice:
        @hookimpl
        def register_gallery_views(self, register):
            register("grid", lambda output: "")

    with pytest.raises(PluginError, match="gallery view 'grid'"):
        build_gallery(make_run(tmp_path / "a"), host=_host(Twice()))

    class Broken:
        @hookimpl
        def register_gallery_views(self, register):
            register("strip", lambda output: 1 / 0, kinds=("images",))

    run = make_run(tmp_path / "b")
    _declare(run, "translate", "images", "strip")
    html = build_gallery(run, host=_host(Broken())).read_text()
    assert "the gallery view &#39;strip&#39; of plugin &#39;views0&#39; failed" in html
    assert "ZeroDivisionError" in html
