"""The gallery of a real (tiny) run, in real headless Chromium, from file:// and over HTTP.

Needs Debian's chromium (/usr/bin/chromium, or $ARTFORGE_CHROMIUM) and the playwright
package; skipped with the reason otherwise. Screenshots go to $ARTFORGE_TEST_ARTIFACTS
(default tests/artifacts/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from PIL import Image

from artforge.recipe import load_recipe
from artforge.runner import Runner
from tests.conftest import ROOT
from tests.gallery.plugin import GalleryTestPlugin

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ARTFORGE_CHROMIUM", "/usr/bin/chromium")
EVIL = "<script>alert(1)</script>"
RECIPE = """\
name: browser-test
description: "A tiny run for the browser test. <script>alert(1)</script>"
seed: 3
steps:
  - id: photos
    uses: images
    with: {path: photos, size: 32}
  - id: translate
    uses: toy-translate
    description: "night to day <script>alert(1)</script>"
    with: {images: "${photos.images}", note: "<script>alert(1)</script>", epochs: 3}
  - id: scenes
    uses: synthetic-scenes
    with: {count: 20, holdout: 0, size: 32}
  - id: sheet
    uses: collage
    with:
      sets: ["${photos.images}", "${translate.images}"]
      labels: [night, "<script>alert(1)</script>"]
      cell: 48
gallery:
  title: "Browser test <script>alert(1)</script>"
"""
NAMES = [f"night{i:02d}" for i in range(8)]


def _night_scenes(folder: Path) -> None:
    """Eight small night-time pictures (sky, ground, a few lit windows) as PNG files."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:48]
    for name in NAMES:
        sky = np.stack([10 + y, 15 + y, 60 + 2 * y], axis=-1)
        ground = np.stack([20 + 0 * y, 30 + x // 4, 25 + 0 * y], axis=-1)
        img = np.where((y < 30)[..., None], sky, ground)
        for _ in range(4):
            wy, wx = rng.integers(32, 44), rng.integers(2, 44)
            img[wy : wy + 3, wx : wx + 3] = (250, 220, 120)
        img = np.clip(img + rng.integers(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{name}.png")


def _chromium_or_skip():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM} (apt-get install chromium, or set ARTFORGE_CHROMIUM)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    return sync_playwright


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = Path(os.environ.get("ARTFORGE_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """gallery/browser-test/ made by the real runner (which builds the page at the end)."""
    from artforge.plugins import PluginHost

    host = PluginHost(load_installed=False)
    host.add_module(GalleryTestPlugin(), name="gallerytest", source="test")
    root = tmp_path_factory.mktemp("browser") / "gallery"
    _night_scenes(root.parent / "photos")
    recipe_path = root.parent / "browser-test.yaml"
    recipe_path.write_text(RECIPE)
    recipe = load_recipe(recipe_path, host)
    summary = Runner(recipe, host, root / "browser-test", quiet=True, log=lambda m: None).run()
    assert summary.gallery == root / "browser-test" / "index.html"
    assert (root / "index.html").is_file()  # the top-level index of gallery/
    # a second run of the same recipe with another seed, for the comparison of runs
    again = load_recipe(recipe_path, host, overrides=["seed=4"])
    Runner(again, host, root / "browser-test-seed4", quiet=True, log=lambda m: None).run()
    return root


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _chromium_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


class Watched:
    """A page with every console error, page error, dialog and request recorded."""

    def __init__(self, browser, width: int, height: int):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda r: self.requests.append(r.url))

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, url: str):
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        # lazy images below the fold: load them all, then wait for every one to settle
        self.page.evaluate(
            """() => Promise.all(Array.from(document.images).map(img => {
                   img.loading = "eager";
                   return img.complete && img.naturalWidth ? null :
                       new Promise(ok => { img.onload = img.onerror = ok; });
               }))"""
        )
        return self.page

    def broken_images(self) -> list[str]:
        return self.page.evaluate(
            "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.getAttribute('src'))"
        )

    def close(self):
        self.page.close()


def _inside(url: str, folder: Path) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "data":
        return True
    path = Path(unquote(parts.path)).resolve()
    return parts.scheme == "file" and path.is_relative_to(folder.resolve())


def test_run_page_in_chromium(gallery, browser, artifacts):
    run_dir = gallery / "browser-test"
    w = Watched(browser, 1280, 900)
    page = w.open((run_dir / "index.html").as_uri())

    # every image loaded, nothing fetched from outside the run's folder, no errors
    assert page.locator("img").count() > 30
    assert w.broken_images() == []
    assert [u for u in w.requests if not _inside(u, run_dir)] == []

    # hostile title and parameters render as text; no dialog opens
    assert EVIL in page.title()
    assert EVIL in page.locator("h1").inner_text()
    assert EVIL in page.locator("#prov-translate").text_content()  # the note parameter
    assert page.locator("script:not([type='application/json'])").count() == 1  # others: data
    assert w.dialogs == []

    # warnings are shown prominently: at the top of the page and of the step
    assert page.locator("header .alert.divergence").count() == 1
    assert page.locator("#step-translate .alert.divergence").is_visible()

    page.screenshot(path=str(artifacts / "gallery-run-desktop.png"), full_page=True)

    # lightbox: a click on a thumbnail opens it; the arrow key moves to the next image
    thumbs = page.locator("#step-translate .grid a.lb")
    assert thumbs.count() == 8
    thumbs.nth(0).click()
    dialog = page.locator("#lightbox")
    assert dialog.is_visible()
    shown = dialog.locator(".lb-stage img")
    assert shown.get_attribute("src") == "steps/translate/images/night00.png"
    assert "night00" in dialog.locator(".lb-title").inner_text()
    assert "seed" in dialog.locator(".prov").inner_text()  # provenance on every image
    page.keyboard.press("ArrowRight")
    assert shown.get_attribute("src") == "steps/translate/images/night01.png"
    assert dialog.locator(".lb-count").inner_text() == "2 / 8"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert shown.get_attribute("src") == "steps/translate/images/night07.png"  # wraps
    page.wait_for_function("() => document.querySelector('#lightbox img').naturalWidth > 0")
    page.screenshot(path=str(artifacts / "gallery-lightbox.png"))
    page.keyboard.press("Escape")
    assert not dialog.is_visible()

    # the comparison slider changes the visible portion of the "after" image
    frame = page.locator("#step-translate .cmp-frame")
    frame.scroll_into_view_if_needed()
    after = page.locator("#step-translate .cmp-after")
    clip = after.evaluate("e => getComputedStyle(e).clipPath")
    shot = frame.screenshot()
    box = frame.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2)
    moved = after.evaluate("e => getComputedStyle(e).clipPath")
    assert moved != clip and "inset" in moved
    assert frame.screenshot() != shot
    page.keyboard.press("End")  # keyboard works too (the slider is a range input)
    assert after.evaluate("e => getComputedStyle(e).clipPath") != moved
    # another pair
    page.locator("#step-translate .cmp-picks button").nth(3).click()
    assert (
        page.locator("#step-translate .cmp-before")
        .get_attribute("src")
        .endswith("photos/images/night03.png")
    )

    # the epoch timeline scrubs through the samples
    tl = page.locator("#step-translate .timeline")
    tl.locator(".tl-range").fill("0")
    assert tl.locator(".tl-view img").get_attribute("src").endswith("samples/epoch001.png")
    assert tl.locator(".tl-label").inner_text() == "epoch 1"

    # the provenance link from the lightbox opens the step's provenance block
    page.goto((run_dir / "index.html").as_uri() + "#prov-translate")
    assert page.locator("#prov-translate").evaluate("e => e.open")

    assert w.errors == [] and w.dialogs == []
    w.close()


def test_phone_width_has_no_horizontal_scroll(gallery, browser, artifacts):
    run_dir = gallery / "browser-test"
    w = Watched(browser, 390, 844)
    page = w.open((run_dir / "index.html").as_uri())
    # open every collapsible block: long commands and tables must wrap or scroll inside
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll at 390 px: {width}"
    assert w.broken_images() == []
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = false)")
    page.screenshot(path=str(artifacts / "gallery-run-phone.png"), full_page=True)
    index = w.open((gallery / "index.html").as_uri())
    width = index.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
    assert w.errors == [] and w.dialogs == []
    w.close()


def test_index_page_and_http_server(gallery, browser, artifacts):
    from artforge.gallery.serve import make_server

    w = Watched(browser, 1280, 800)
    page = w.open((gallery / "index.html").as_uri())
    assert w.broken_images() == []
    assert [u for u in w.requests if not _inside(u, gallery)] == []
    assert page.locator("a.run-card").count() == 2  # the run, and the same recipe with seed 4
    card = page.locator("a.run-card[href='browser-test/index.html']")
    assert EVIL in card.inner_text() and "1 warning" in card.inner_text()
    page.screenshot(path=str(artifacts / "gallery-index.png"), full_page=True)
    card.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/browser-test/index.html")

    # the same pages work from a web server (relative links only)
    with make_server(gallery, 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            h = Watched(browser, 1280, 800)
            h.open(f"{base}/browser-test/index.html")
            assert h.broken_images() == []
            assert all(u.startswith(f"{base}/browser-test/") for u in h.requests), h.requests
            assert h.errors == [] and h.dialogs == []
            h.close()
        finally:
            server.shutdown()
            thread.join(5)
    assert w.errors == [] and w.dialogs == []
    w.close()


def test_gallery_build_reproduces_the_runner_pages(gallery, tmp_path):
    """`artforge gallery build` on the finished run gives the same bytes, running no step."""
    from artforge.cli import main

    src = gallery / "browser-test"
    copy = tmp_path / "gallery" / "browser-test"
    shutil.copytree(src, copy)
    shutil.rmtree(copy / "_gallery")
    (copy / "index.html").unlink()
    manifest = (copy / "manifest.json").read_bytes()
    assert main(["gallery", "build", str(copy)]) == 0
    assert (copy / "index.html").read_bytes() == (src / "index.html").read_bytes()
    for f in sorted((src / "_gallery").rglob("*")):
        if f.is_file() and f.name != "cache.json":
            assert (copy / f.relative_to(src)).read_bytes() == f.read_bytes(), f
    assert (copy / "manifest.json").read_bytes() == manifest  # nothing ran


def test_screenshot_tool(gallery, tmp_path):
    """`python -m artforge.gallery.screenshot` (how the README screenshot is made)."""
    _chromium_or_skip()
    out = tmp_path / "shot.png"
    cmd = [
        sys.executable,
        "-m",
        "artforge.gallery.screenshot",
        str(gallery / "browser-test"),
        str(out),
    ]
    cmd += ["--width", "800", "--height", "600", "--step", "translate", "--chromium", CHROMIUM]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=120)
    assert Image.open(out).size == (800, 600)


# -- issue 17: results first, zoom, sorting, curves, runs side by side ------------------------
FIRST_METRIC = ".summary table.headline tbody tr:first-child td"


@pytest.mark.parametrize("size", [(1280, 1000), (390, 844)])
def test_summary_first_metric_is_visible_without_scrolling(gallery, browser, artifacts, size):
    w = Watched(browser, *size)
    page = w.open((gallery / "browser-test" / "index.html").as_uri())
    page.evaluate("() => window.scrollTo(0, 0)")
    cell = page.locator(FIRST_METRIC).first
    box = cell.bounding_box()
    assert box and box["y"] + box["height"] <= size[1], f"first metric at {box} in {size}"
    assert cell.inner_text().startswith("23.5")  # toy-translate's PSNR, marked better
    assert "best" in cell.get_attribute("class")
    assert "✓" in cell.inner_text()
    # labels from the recipe, the step's words, the device it ran on
    summary = page.locator(".summary").inner_text()
    assert "PSNR (dB)" in summary and "night" in summary
    collage = page.locator(".summary table.collage")
    assert collage.locator("thead th").all_inner_texts() == ["night", EVIL]
    assert page.locator("#step-translate .device").inner_text() == "cpu"
    assert (
        page.locator("#step-scenes .step-desc")
        .first.inner_text()
        .startswith("Renders synthetic night/day scenes")
    )
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scroll at {size}: {width}"
    page.screenshot(path=str(artifacts / f"gallery-summary-{size[0]}.png"))
    assert w.errors == [] and w.dialogs == []
    w.close()


def test_zoom_in_the_lightbox_and_the_comparison(gallery, browser):
    w = Watched(browser, 1280, 900)
    page = w.open((gallery / "browser-test" / "index.html").as_uri())
    page.locator("#step-translate .grid a.lb").nth(0).click()
    stage_img = page.locator("#lightbox .lb-stage img")
    page.wait_for_function("() => document.querySelector('#lightbox img').naturalWidth > 0")
    level = page.locator("#lightbox .zlevel")
    assert level.inner_text() == "fit"
    page.locator("#lightbox [data-zoom=in]").click()
    assert "scale(2)" in stage_img.evaluate("e => e.style.transform")
    # pan: drag the zoomed image
    box = page.locator("#lightbox .lb-stage").bounding_box()
    before = stage_img.evaluate("e => e.style.transform")
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 40, steps=4)
    page.mouse.up()
    assert stage_img.evaluate("e => e.style.transform") != before
    # 1:1: one image pixel per CSS pixel
    page.locator("#lightbox [data-zoom='1']").click()
    assert level.inner_text() == "100%"
    shown = stage_img.evaluate(
        "e => e.getBoundingClientRect().width / Math.min(e.offsetWidth / e.naturalWidth,"
        " e.offsetHeight / e.naturalHeight) / e.naturalWidth"
    )
    assert shown > 0
    page.keyboard.press("ArrowRight")  # the next image opens at fit
    assert level.inner_text() == "fit" and stage_img.evaluate("e => e.style.transform") == ""
    page.keyboard.press("Escape")

    # the before/after slider zooms both images together
    cmp = page.locator("#step-translate .cmp").first
    cmp.scroll_into_view_if_needed()
    cmp.locator("[data-zoom=in]").click()
    t_before = cmp.locator(".cmp-before").evaluate("e => e.style.transform")
    t_after = cmp.locator(".cmp-after img").evaluate("e => e.style.transform")
    assert "scale(2)" in t_before and t_before == t_after
    cmp.locator("[data-zoom=fit]").click()
    assert cmp.locator(".cmp-before").evaluate("e => e.style.transform") == ""
    assert w.errors == []
    w.close()


def test_per_image_table_sorts_and_opens_its_images(gallery, browser):
    w = Watched(browser, 1280, 900)
    page = w.open((gallery / "browser-test" / "index.html").as_uri())
    table = page.locator("#step-translate table.sortable")
    psnr = table.locator("tbody td:nth-child(2)")

    def values():
        return [float(v) for v in psnr.all_inner_texts()]

    assert values() == sorted(values())  # worst first: the lowest PSNR on top
    head = table.locator("thead th").nth(1)
    assert head.get_attribute("aria-sort") == "ascending"
    head.locator("button").click()
    assert values() == sorted(values(), reverse=True)
    assert head.get_attribute("aria-sort") == "descending"
    table.locator("thead th").nth(0).locator("button").click()  # by name
    names = table.locator("tbody th").all_inner_texts()
    assert names == sorted(names)
    # a row opens its image in the lightbox; the arrow key goes to the same image's input
    table.locator("tbody th a").first.click()
    shown = page.locator("#lightbox .lb-stage img")
    assert shown.get_attribute("src") == "steps/translate/images/night00.png"
    page.keyboard.press("ArrowRight")
    assert shown.get_attribute("src").endswith("photos/images/night00.png")
    page.keyboard.press("Escape")
    assert w.errors == []
    w.close()


def test_curves_smoothing_slider_hover_and_log_scale(gallery, browser):
    w = Watched(browser, 390, 844)
    page = w.open((gallery / "browser-test" / "index.html").as_uri())
    fig = page.locator("#step-translate figure.curves")
    fig.scroll_into_view_if_needed()
    assert fig.locator("path.raw").count() == 3  # G, D, G_L1: raw values, no smoothing yet
    assert fig.locator("path.smooth-line").count() == 0
    # legible on a phone: tick labels of at least 11 CSS pixels
    size = fig.locator("text.tick").first.evaluate("e => e.getBoundingClientRect().height")
    assert size >= 11
    fig.locator("input.smooth").fill("0.9")
    assert fig.locator("path.smooth-line").count() == 3
    assert fig.locator("output.smooth-val").inner_text() == "0.90"
    # bias-corrected: the smoothed G curve starts at the first raw value, not below or above it
    first = fig.locator("path.smooth-line").first.get_attribute("d").split("L")[0]
    raw_first = fig.locator("path.raw").first.get_attribute("d").split("L")[0]
    assert first == raw_first
    # hover shows the values under the pointer
    svg = fig.locator("svg.curve-svg").first
    box = svg.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    tip = fig.locator(".curve-tip").first
    assert tip.is_visible() and "iteration" in tip.inner_text() and "G:" in tip.inner_text()
    ticks = fig.locator("text.tick").all_text_contents()
    fig.locator("input.logy").check()
    assert fig.locator("text.axis-label").first.text_content().endswith("log scale")
    assert fig.locator("text.tick").all_text_contents() != ticks
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
    assert w.errors == []
    w.close()


def test_show_all_and_accessibility(gallery, browser):
    w = Watched(browser, 1280, 900)
    page = w.open((gallery / "browser-test" / "index.html").as_uri())
    grid = page.locator("#step-scenes .grid").first
    assert grid.locator("a.lb").count() == 16
    button = page.locator("#step-scenes button.show-all").first
    assert button.inner_text() == "Show all 20"
    button.click()
    assert grid.locator("a.lb").count() == 20
    page.evaluate(
        """() => Promise.all(Array.from(document.images).map(img => {
               img.loading = "eager";
               return img.complete && img.naturalWidth ? null :
                   new Promise(ok => { img.onload = img.onerror = ok; });
           }))"""
    )
    assert w.broken_images() == []
    # skip link, live caption region, status warnings, labelled sliders, distinct Copy names
    assert page.locator("a.skip").get_attribute("href") == "#steps"
    assert page.locator("#lightbox .lb-title").get_attribute("aria-live") == "polite"
    assert page.locator(".summary .alerts").get_attribute("role") == "status"
    tl = page.locator("#step-translate .tl-range")
    assert tl.get_attribute("aria-valuetext") == "epoch 3 of 3"
    tl.fill("0")
    assert tl.get_attribute("aria-valuetext") == "epoch 1 of 3"
    label = page.locator("#step-translate .cmp-range").get_attribute("aria-label")
    assert label.startswith(f"Slide between night (left) and {EVIL} (right)")  # recipe's words
    names = page.locator("button.copy").evaluate_all(
        "bs => bs.map(b => b.getAttribute('aria-label'))"
    )
    assert len(names) == len(set(names)) and all(names)
    assert page.locator("#step-translate .tl-cols").count() == 0  # toy samples: no columns
    assert w.errors == []
    w.close()


def test_runs_side_by_side_on_the_index(gallery, browser):
    w = Watched(browser, 1280, 900)
    page = w.open((gallery / "index.html").as_uri())
    group = page.locator("section.compare-runs[id^=compare-]")
    assert group.count() == 1 and "2 runs of browser-test" in group.inner_text()
    table = group.locator("table.runs-metrics")
    assert table.locator("tbody tr").count() == 2
    heads = table.locator("thead th").all_inner_texts()
    assert any("translate · PSNR (dB)" in h for h in heads)
    # parameters that differ: the seed
    differ = group.locator("td.diff")
    assert "3" in differ.all_inner_texts() and "4" in differ.all_inner_texts()
    # sorting reorders the runs, both ways
    order = table.locator("tbody tr th").all_inner_texts()
    table.locator("thead th").nth(0).locator("button").click()
    once = table.locator("tbody tr th").all_inner_texts()
    table.locator("thead th").nth(0).locator("button").click()
    assert table.locator("tbody tr th").all_inner_texts() == once[::-1]
    assert sorted(once) == sorted(order)
    # the same image across runs: choose another one, both runs show it
    pick = group.locator(".across select")
    options = pick.locator("option").all_inner_texts()
    target = next(o for o in options if o.startswith("translate · images · night03"))
    pick.select_option(label=target)
    srcs = group.locator(".across-cell img").evaluate_all(
        "es => es.map(e => e.getAttribute('src'))"
    )
    assert sorted(srcs) == sorted(
        [
            "browser-test/steps/translate/images/night03.png",
            "browser-test-seed4/steps/translate/images/night03.png",
        ]
    )
    # any ticked runs side by side
    chosen = page.locator("section.compare-runs .chosen")
    page.locator("button.compare-chosen").click()
    assert "Tick two runs or more" in chosen.inner_text()
    for box in page.locator("input.choose").all():
        box.check()
    page.locator("button.compare-chosen").click()
    rows = chosen.locator("tr").all_inner_texts()
    assert any(r.startswith("translate · PSNR (dB)") and "✓" in r for r in rows), rows
    assert any(r.split("\t")[:1] == ["seed"] for r in rows), rows
    assert w.broken_images() == []
    assert w.errors == []
    w.close()
