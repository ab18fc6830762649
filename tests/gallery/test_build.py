"""The gallery builder on synthetic run directories (no runner, no framework)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

from artforge.errors import ArtforgeError
from artforge.gallery import build_gallery, build_index
from artforge.gallery import model as M
from tests.gallery.synth import EVIL, make_run


class Page(HTMLParser):
    """Tags, attributes and text of a page (stdlib parser: what a browser would see)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str, **match) -> list[dict]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())
        ]

    def links(self) -> list[str]:
        return [a[k] for _, a in self.tags for k in ("href", "src") if a.get(k)]


def _page(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


@pytest.fixture
def gallery_root(tmp_path) -> Path:
    root = tmp_path / "gallery"
    root.mkdir()
    return root


@pytest.fixture
def run(gallery_root) -> Path:
    return make_run(gallery_root)


def test_page_has_a_section_per_step_in_recipe_order(run):
    page = _page(build_gallery(run))
    ids = [a["id"] for a in page.all("section") if a.get("class") == "step"]
    assert ids == ["step-scenes", "step-train", "step-translate", "step-sheet"]
    text = " ".join(page.text)
    for fact in ("Demo run", "torch", "1 min 23 s", "2026-11-24 09:00 UTC", "seed 1234"):
        assert fact in text
    # the command that reproduces the run, with the --set override it was run with
    assert "artforge run recipes/demo.yaml --set seed=7" in text
    assert "name: demo" in text  # the recipe YAML, in a collapsible <details>


def test_thumbnails_are_small_webp_and_originals_one_click_away(run):
    page = _page(build_gallery(run))
    grid_links = [a for a in page.all("a") if a.get("class") == "lb"]
    assert grid_links
    for a in page.all("img"):
        assert a.get("alt"), f"image without alt text: {a}"
    thumbs = [a["src"] for a in page.all("img") if "_gallery/thumbs/" in a["src"]]
    assert len(thumbs) >= 8 * 3 + 4
    for src in thumbs:
        im = Image.open(run / unquote(src))
        assert im.format == "WEBP" and max(im.size) <= 64  # the recipe's thumbnail_size
    night = next(a for a in grid_links if a["href"].endswith("holdout_night/scene00001.png"))
    assert (run / night["href"]).is_file()
    # the collage is shown at full size, not as a thumbnail
    assert any(a["src"] == "steps/sheet/sheets/sheet001.png" for a in page.all("img"))


def test_comparison_slider_pairs_inputs_and_outputs_by_name(run):
    html = build_gallery(run).read_text()
    page = Page(html)
    sliders = page.all("figure", **{"class": "cmp"})
    assert len(sliders) == 1  # translate; not the collage, whose names do not match
    before = page.all("img", **{"class": "cmp-before px"})[0]["src"]
    assert before == "steps/scenes/holdout_night/scene00000.png"
    picks = page.all("button", type="button")
    pairs = [(b["data-before"], b["data-after"]) for b in picks if "data-before" in b]
    assert (
        "steps/scenes/holdout_night/scene00003.png",
        "steps/translate/images/scene00003.png",
    ) in pairs
    assert len(pairs) == 8
    section = html[html.index('id="step-translate"') : html.index('id="step-sheet"')]
    assert 'class="cmp"' in section


def test_explicit_compare_hint(run):
    rec_path = run / "steps/translate/record.json"
    rec = json.loads(rec_path.read_text())
    rec["info"]["compare"] = {"before": "${scenes.holdout_day}", "after": "images"}
    rec_path.write_text(json.dumps(rec))
    page = _page(build_gallery(run))
    assert page.all("img", **{"class": "cmp-before px"})[0]["src"].startswith(
        "steps/scenes/holdout_day/"
    )


def test_training_health_curves_timeline_metrics_and_warnings(run):
    html = build_gallery(run).read_text()
    page = Page(html)
    # loss curves: one SVG for the train step with every series
    plot = run / "_gallery/plots/train.svg"
    svg = ElementTree.parse(plot).getroot()
    texts = " ".join(t.text or "" for t in svg.iter() if t.tag.endswith("text"))
    for name in ("G", "D", "G_L1", "val_psnr", "epoch", "iteration"):
        assert name in texts.split() or name in texts
    assert any(a.get("href") == "_gallery/plots/train.svg" for a in page.all("a"))
    # the page draws the raw series itself (curve view): every point as recorded
    start = html.index('<script type="application/json" class="curve-data">')
    data = json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])
    rec = json.loads((run / "steps/train/record.json").read_text())
    assert data["series"]["G"]["points"] == [[float(x), float(y)] for x, y in rec["series"]["G"]]
    assert {n for p in data["panels"] for n in p["names"]} >= {"G", "D", "G_L1", "val_psnr"}
    # per-epoch samples as a timeline, in epoch order
    strip = [a["href"] for a in page.all("a") if a.get("data-label", "").startswith("epoch")]
    assert strip == [f"steps/train/samples/epoch{e:03d}.png" for e in range(1, 5)]
    # the GIF plays (shown as an <img>, not just linked)
    assert any(a["src"] == "steps/train/progress/progress.gif" for a in page.all("img"))
    # metrics with their baselines side by side, the better value marked
    section = html[html.index('id="step-translate"') : html.index('id="step-sheet"')]
    table = Page(section)
    heads = [t for t in table.text if t.strip()]
    for col in ("model", "baseline", "bicubic", "identity"):
        assert col in heads
    assert "+5.25 vs baseline" in section
    assert section.count('class="num best"') == 3  # PSNR, SSIM and LPIPS beat their baselines
    # the warning, at the top of the step and of the page
    alerts = [a for a in page.all("div") if "alert" in (a.get("class") or "").split()]
    assert len(alerts) == 2 and all("divergence" in a["class"] for a in alerts)
    # checkpoint hash (computed: the record has none), in the files and in the provenance
    digest = hashlib.sha256((run / "steps/train/model/generator.safetensors").read_bytes())
    assert html.count(digest.hexdigest()) >= 3  # model card, train and translate provenance


def test_the_checkpoint_hash_shown_is_that_of_the_file_on_disk(run):
    """Issue 14 item 4: a recorded hash that no longer matches the file is not shown as the
    checkpoint's hash; the file's is, with a note that the file has changed."""
    rec_path = run / "steps/train/record.json"
    rec = json.loads(rec_path.read_text())
    rec["outputs"]["model"]["meta"]["sha256"] = "ab" * 32
    rec_path.write_text(json.dumps(rec))
    html = build_gallery(run).read_text()
    disk = hashlib.sha256((run / "steps/train/model/generator.safetensors").read_bytes())
    assert "ab" * 32 not in html and html.count(disk.hexdigest()) >= 3
    assert "sha256 (file on disk; the step recorded abababababab, the file has changed)" in html
    rec["outputs"]["model"]["meta"]["sha256"] = disk.hexdigest()
    rec_path.write_text(json.dumps(rec))
    assert "sha256 (file on disk)" in build_gallery(run).read_text()


def test_downloads_zip_and_metrics_json(run):
    page = _page(build_gallery(run))
    zips = [a["href"] for a in page.all("a") if a["href"].endswith(".zip")]
    assert zips == [
        "_gallery/downloads/scenes-images.zip",
        "_gallery/downloads/train-images.zip",
        "_gallery/downloads/translate-images.zip",
        "_gallery/downloads/sheet-images.zip",
    ]
    with zipfile.ZipFile(run / zips[0]) as zf:
        names = zf.namelist()
        assert len(names) == 16 and "scenes/holdout_day/scene00007.png" in names
        assert (
            zf.read("scenes/holdout_day/scene00007.png")
            == (run / "steps/scenes/holdout_day/scene00007.png").read_bytes()
        )
    metrics = json.loads((run / "_gallery/metrics.json").read_text())
    assert metrics["steps"]["translate"]["metrics"]["psnr"] == 24.5
    assert metrics["steps"]["train"]["series"]["G"][0][0] == 0
    assert any(a["href"] == "_gallery/metrics.json" for a in page.all("a"))


def test_every_string_from_a_recipe_or_plugin_is_escaped(gallery_root):
    run = make_run(gallery_root, evil=True)
    for page_path in (build_gallery(run), gallery_root / "index.html"):
        html = page_path.read_text()
        assert EVIL not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert html.count("<script>") == 1  # the gallery's own inline script, nothing else
        assert EVIL in " ".join(Page(html).text)  # shown as text


def test_links_are_relative_and_stay_inside_the_gallery(run, gallery_root):
    build_gallery(make_run(gallery_root, "second", started="2026-11-25T00:00:00+00:00"))
    pages = [build_gallery(run), gallery_root / "index.html"]
    for page_path in pages:
        for link in _page(page_path).links():
            if link.startswith("#") or link == "data:,":  # in-page anchors; the empty favicon
                continue
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc, link
            assert not link.startswith("/"), link
            target = (page_path.parent / unquote(parts.path)).resolve()
            assert target.is_relative_to(gallery_root.resolve()), link
            assert target.exists(), link
    html = pages[0].read_text()
    assert "http://" not in html and "https://" not in html


def test_rebuild_gives_the_same_bytes(run):
    def snapshot() -> dict[str, bytes]:
        files = [run / "index.html", *sorted((run / "_gallery").rglob("*"))]
        return {
            str(p.relative_to(run)): p.read_bytes()
            for p in files
            if p.is_file() and p.name != "cache.json"
        }

    build_gallery(run)
    first = snapshot()
    build_gallery(run)  # everything cached
    assert snapshot() == first
    import shutil

    shutil.rmtree(run / "_gallery")
    build_gallery(run)  # everything derived again from scratch
    assert snapshot() == first


def test_thumbnails_are_cached_and_follow_their_source(run):
    build_gallery(run)
    thumb = run / "_gallery/thumbs/translate/images/scene00002.png.webp"
    stamp = thumb.stat().st_mtime_ns
    build_gallery(run)
    assert thumb.stat().st_mtime_ns == stamp  # not regenerated
    src = run / "steps/translate/images/scene00002.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src)
    os.utime(src, ns=(stamp + 10**9, stamp + 10**9))
    build_gallery(run)
    assert np.asarray(Image.open(thumb).convert("RGB")).max() < 8  # now black, like its source
    # thumbnails of images that left the record are removed
    rec_path = run / "steps/translate/record.json"
    rec = json.loads(rec_path.read_text())
    rec["outputs"]["images"]["files"] = rec["outputs"]["images"]["files"][:2]
    rec_path.write_text(json.dumps(rec))
    build_gallery(run)
    assert not (run / "_gallery/thumbs/translate/images/scene00005.png.webp").exists()


def test_index_lists_runs_newest_first_with_cover_and_flags(gallery_root):
    older = make_run(gallery_root, "older", title="Older", started="2026-01-01T00:00:00+00:00")
    newer = make_run(
        gallery_root, "newer", title="Newer", warnings=False, started="2026-02-01T00:00:00+00:00"
    )
    index = build_index(gallery_root)
    assert not _page(index).all("a", **{"class": "run-card"})  # no run page to link to yet
    assert "artforge gallery build older" in index.read_text()
    build_gallery(older)  # also refreshes the index
    page = _page(index)
    cards = [a["href"] for a in page.all("a", **{"class": "run-card"})]
    assert cards == ["older/index.html"]  # "newer" is listed, without a link
    build_gallery(newer)
    page = _page(index)
    cards = [a["href"] for a in page.all("a", **{"class": "run-card"})]
    assert cards == ["newer/index.html", "older/index.html"]  # newest first
    covers = [a["src"] for a in page.all("img")]
    assert covers and all((gallery_root / unquote(c)).is_file() for c in covers)
    text = " ".join(page.text)
    assert "1 warning" in text and "divergence guard" in text
    assert "PSNR (dB)" in text and "24.5" in text
    for fact in ("torch", "auto", "1 min 23 s", "2026-02-01 00:00 UTC"):
        assert fact in text


def test_parent_index_only_where_it_belongs(tmp_path):
    lone = make_run(tmp_path / "somewhere", "one")
    build_gallery(lone)
    assert not (tmp_path / "somewhere/index.html").exists()  # one run in an arbitrary folder
    assert "All runs" not in (lone / "index.html").read_text()
    two = make_run(tmp_path / "somewhere", "two")
    build_gallery(two)
    assert (tmp_path / "somewhere/index.html").is_file()  # now it holds two runs
    assert "All runs" in (two / "index.html").read_text()
    foreign = tmp_path / "site"
    foreign.mkdir()
    (foreign / "index.html").write_text("<p>my own page</p>")
    build_gallery(make_run(foreign, "a"))
    build_gallery(make_run(foreign, "b"))
    assert (foreign / "index.html").read_text() == "<p>my own page</p>"  # never overwritten
    with pytest.raises(ArtforgeError, match="not written by artforge"):
        build_index(foreign)


def test_failed_step_and_hostile_paths(run):
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["steps"][3].update(status="failed", error="collage: 3 labels for 2 image sets")
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "steps/sheet/record.json").unlink()
    rec_path = run / "steps/translate/record.json"
    rec = json.loads(rec_path.read_text())
    rec["outputs"]["images"]["files"].append("../../../../etc/passwd")
    rec_path.write_text(json.dumps(rec))
    html = build_gallery(run).read_text()
    assert "Step failed" in html and "3 labels for 2 image sets" in html
    assert "passwd" not in html and "/.." not in html


def test_non_finite_losses_raise_a_divergence_alert(run):
    rec_path = run / "steps/translate/record.json"
    rec = json.loads(rec_path.read_text())
    rec["series"] = {"loss": [[0, 1.0], [1, 0.5], [2, float("nan")], [3, float("inf")]]}
    rec_path.write_text(json.dumps(rec))
    html = build_gallery(run).read_text()
    assert "the curve &#39;loss&#39; has non-finite values from 2 on" in html
    assert "non-finite from 2" in (run / "_gallery/plots/translate.svg").read_text()


def test_metric_table_pairs_models_with_baselines():
    table = M.metric_table(
        {
            "psnr": 30.0,
            "bicubic_psnr": 28.0,
            "y_psnr": 31.0,
            "bicubic_y_psnr": 29.5,
            "lpips": 0.3,
            "baseline_lpips": 0.2,
            "fid": 12.5,
            "note": "text",
            "nested": {"ssim": 0.9},
        }
    )
    rows = {r.key: r for r in table.rows}
    assert table.columns == ["bicubic", "baseline"]
    assert rows["psnr"].baselines == {"bicubic": "28"} and rows["psnr"].best == "model"
    assert (
        rows["y_psnr"].baselines == {"bicubic": "29.5"}
        and rows["y_psnr"].delta == "+1.5 vs bicubic"
    )
    assert rows["lpips"].best == "baseline"  # lower is better
    assert rows["fid"].baselines == {} and rows["nested.ssim"].value == "0.9"
    assert table.extra == [("note", "text")]
    assert M.split_baseline("psnr_bicubic") == ("bicubic", "psnr")
    assert M.split_baseline("val_psnr") is None


def test_metric_table_pairs_training_finals_and_leaves_loss_series_alone():
    table = M.metric_table(
        {
            "final_class_accuracy": 0.98,
            "real_class_accuracy": 0.95,
            "final_D_real": 2.4,  # a loss series' last value, not a baseline of "final_D"
            "final_loss_D": 0.3,
        }
    )
    rows = {r.key: r for r in table.rows}
    assert rows["final_class_accuracy"].baselines == {"real": "0.95"}
    assert rows["final_class_accuracy"].best == "model"
    assert rows["final_D_real"].baselines == {} and rows["final_D_real"].value == "2.4"
    assert "final_D" not in rows and table.columns == ["real"]


def test_gallery_build_command(run, gallery_root, capsys):
    from artforge.cli import main

    page = build_gallery(run)
    before = page.read_bytes()
    page.unlink()
    assert main(["gallery", "build", str(run)]) == 0
    assert page.read_bytes() == before
    assert main(["gallery", "build", str(gallery_root)]) == 0  # a folder of runs
    assert (gallery_root / "index.html").is_file()
    assert main(["gallery", "build", str(run / "steps")]) == 2
    assert "holds no artforge run" in capsys.readouterr().err


def test_serve_over_http_on_localhost(run, gallery_root):
    from artforge.gallery.serve import make_server, page_url

    build_gallery(run)
    with make_server(gallery_root, 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = page_url(server, gallery_root)
            assert url.startswith("http://127.0.0.1:") and url.endswith("/index.html")
            base = url.rsplit("/", 1)[0]
            with urllib.request.urlopen(f"{base}/demo/index.html", timeout=10) as resp:
                assert resp.status == 200 and b"Demo run" in resp.read()
            thumb = f"{base}/demo/_gallery/thumbs/translate/images/scene00000.png.webp"
            with urllib.request.urlopen(thumb, timeout=10) as resp:
                assert resp.headers["Content-Type"] == "image/webp"
            port = server.server_address[1]
            with pytest.raises(ArtforgeError, match="already in use"):
                make_server(gallery_root, port)
        finally:
            server.shutdown()
            thread.join(5)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(ArtforgeError, match="not an artforge run directory"):
        build_gallery(tmp_path)


def test_any_text_from_records_is_rendered_as_text(run):
    """Whatever strings a recipe or plugin puts in a run, the page has no markup from them."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    hostile = st.sampled_from(
        ["<script>", "</script>", "&amp;", '"', "'", "{{ x }}", "<img src=x onerror=alert(1)>"]
    )
    chars = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20)
    text = st.lists(st.one_of(hostile, chars), max_size=4).map("".join)
    manifest_path = run / "manifest.json"
    rec_path = run / "steps/translate/record.json"
    manifest0, rec0 = manifest_path.read_text(), rec_path.read_text()
    build_gallery(run)  # thumbnails cached once
    allowed = {t for t, _ in _page(run / "index.html").tags}

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(title=text, value=text, key=text, warning=text)
    def check(title, value, key, warning):
        manifest = json.loads(manifest0)
        manifest["title"] = title
        manifest_path.write_text(json.dumps(manifest))
        rec = json.loads(rec0)
        rec["params"][key or "k"] = value
        rec["metrics"][key or "k"] = value
        rec["info"][key or "k"] = [value]
        rec["warnings"] = [warning]
        rec["series"] = {key or "k": [[0, 1.0], [1, 2.0]]}
        rec_path.write_text(json.dumps(rec))
        html = build_gallery(run).read_text()
        page = Page(html)
        assert {t for t, _ in page.tags} <= allowed
        # one script runs; the others are data (JSON that never closes its element)
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        assert [a for a, _ in scripts if "application/json" not in a] == [""]
        for _, body in scripts[:-1]:
            json.loads(body)
        joined = "".join(page.text)
        for s in (title, value, warning):
            assert s.strip() in joined or not s.strip()

    check()


def test_super_resolution_step(run):
    """A super-resolve record as the torch plugin writes it: a compare hint to its own bicubic
    output, Y-channel scores with bicubic baselines and a per-image breakdown."""
    names = [f"scene{i:05d}" for i in range(3)]
    rng = np.random.default_rng(1)
    for out, size in (("images", 64), ("bicubic", 64), ("lowres", 16)):
        (run / "steps/sr" / out).mkdir(parents=True)
        for n in names:
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(img).save(run / "steps/sr" / out / f"{n}.png")
    per_image = {n: {"y_psnr": 30.0 + i, "bicubic_y_psnr": 28.0 + i} for i, n in enumerate(names)}
    record = json.loads((run / "steps/translate/record.json").read_text())
    record.update(
        id="sr",
        uses="super-resolve",
        params={"images": "${scenes.holdout_day}", "scale": 4, "method": "espcn"},
        outputs={
            out: {"kind": "images", "path": out, "files": [f"{n}.png" for n in names]}
            for out in ("images", "bicubic", "lowres")
        },
        metrics={
            "scale": 4,
            "y_psnr": 31.0,
            "bicubic_y_psnr": 29.0,
            "y_ssim": 0.9,
            "bicubic_y_ssim": 0.85,
            "per_image": per_image,
        },
        info={"compare": {"before": "${sr.bicubic}", "after": "images"}},
        series={},
        warnings=[],
    )
    (run / "steps/sr/record.json").write_text(json.dumps(record))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["steps"].append(
        {
            **manifest["steps"][2],
            "id": "sr",
            "uses": "super-resolve",
            "record": "steps/sr/record.json",
        }
    )
    (run / "manifest.json").write_text(json.dumps(manifest))
    html = build_gallery(run).read_text()
    section = html[html.index('id="step-sr"') :]
    page = Page(section)
    befores = [a["src"] for a in page.all("img") if "cmp-before" in a.get("class", "")]
    assert befores == ["steps/sr/bicubic/scene00000.png", "steps/scenes/holdout_day/scene00000.png"]
    text = " ".join(page.text)
    assert "PSNR-Y (dB)" in text and "+2 vs bicubic" in text and "SSIM-Y" in text
    # the breakdown: a sortable table, worst first, each row opening its images
    assert "per image: 3 rows" in text and "worst first by PSNR-Y (dB)" in text
    table = section[section.index('<table class="metrics sortable"') :]
    table = table[: table.index("</table>")]
    rows = Page(table)
    names = [a["data-caption"].split(" · ")[1] for a in rows.all("a") if "data-caption" in a]
    assert names[0] == "scene00000" and names[-1].startswith("scene00002")
    hrefs = [a["href"] for a in rows.all("a")]
    assert "steps/sr/images/scene00000.png" in hrefs and "steps/sr/bicubic/scene00000.png" in hrefs
    assert "per_image.scene00000" not in section  # not flattened into the main table
    captions = [
        a["data-caption"]
        for a in page.all("a")
        if a.get("data-caption", "").startswith("sr · images")
    ]
    assert "PSNR-Y (dB) 31 · bicubic PSNR-Y (dB) 29" in captions[1]


def test_static_plot_smoothing_is_not_biased_by_the_first_value():
    """A loss that starts high and settles: the smoothed curve follows the raw values (the
    old EMA started from the first value and stayed far above them)."""
    from artforge.gallery.plots import smooth

    ys = [5.0] + [0.05] * 99
    out = smooth(ys, len(ys))
    assert out[0] == 5.0 and abs(out[-1] - 0.05) < 0.01
    flat = smooth([2.0] * 50, 50)
    assert all(abs(v - 2.0) < 1e-12 for v in flat)


def test_human_words():
    from artforge.gallery import words as W

    assert W.metric_name("psnr_margin_db") == "PSNR margin (dB)"
    assert W.metric_name("val.y_psnr") == "validation PSNR-Y (dB)"
    assert M.metric_label("bicubic_y_psnr") == "bicubic PSNR-Y (dB)"
    assert M.metric_label("pixel_ridge_ssim") == "per-pixel ridge SSIM"
    records = {
        "sheet": {"params": {"sets": ["${a.night}", "${b.images}"], "labels": ["night", "day"]}}
    }
    labels = W.recipe_labels(records)
    assert labels == {"${a.night}": "night", "${b.images}": "day"}
    assert W.output_label("a", "night", labels) == "night"
    assert W.output_label("a", "holdout_day", labels) == "a · holdout day"
    # where a step ran: the plugin's resolved device, never "auto"
    assert (
        W.resolved_device({"device": "auto", "backend": "torch", "info": {"device": "cpu"}})
        == "cpu"
    )
    assert W.resolved_device({"device": "auto", "backend": None}) == "cpu"
    assert W.run_device(["cpu", "cpu"], "auto") == "cpu (asked: auto)"
