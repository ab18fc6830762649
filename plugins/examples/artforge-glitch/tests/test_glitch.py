"""Tests of artforge-glitch. Run them after `pip install -e ".[torch,test]"`: `pytest`."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from artforge_glitch.kaleidoscope import kaleidoscope
from artforge_glitch.pixelsort import brightness, pixel_sort
from PIL import Image

from artforge.api import RecipeError, run_recipe, save_png

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "glitch.yaml"


def artforge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "artforge", *args], capture_output=True, text=True, timeout=300
    )


def random_image(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- installation ------------------------------------------------------------------------
def test_found_through_the_artforge_entry_point_group():
    plugins = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="artforge")}
    assert plugins.get("glitch") == "artforge_glitch.plugin", "pip install the plugin first"


def test_artforge_lists_the_plugin_steps_and_generator():
    out = artforge("plugins", "--json")
    assert out.returncode == 0, out.stderr
    glitch = next(p for p in json.loads(out.stdout)["plugins"] if p["name"] == "glitch")
    assert glitch["distribution"] == "artforge-glitch" and glitch["version"] == "0.1.0"
    assert glitch["registers"]["steps"] == ["pixel-sort", "kaleidoscope", "cppn-art [torch]"]
    assert glitch["registers"]["generators"] == ["cppn [torch]"]
    assert glitch["registers"]["style-optimisers"] == ["glitch-transfer"]
    assert set(glitch["hooks"]) == {
        "register_steps",
        "register_models",
        "register_style_optimisers",
        "register_commands",
    }


def test_registration_imports_neither_torch_nor_the_effects():
    code = (
        "import sys, artforge_glitch.plugin; "
        "print(sorted(m for m in ('torch', 'artforge_glitch.cppn', 'artforge_glitch.pixelsort')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- pixel-sort ---------------------------------------------------------------------------
def runs(mask_row: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    found, start = [], None
    for i, m in enumerate([*mask_row, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            found.append((start, i))
            start = None
    return found


@pytest.mark.parametrize("reverse", [False, True])
def test_pixel_sort_sorts_each_run_and_leaves_the_rest(reverse):
    img = random_image()
    out = pixel_sort(img, low=0.3, high=0.7, reverse=reverse)
    inside = (brightness(img) >= 0.3) & (brightness(img) <= 0.7)
    assert np.array_equal(out[~inside], img[~inside])  # pixels outside the thresholds stay
    sorted_runs = 0
    for y in range(img.shape[0]):
        for a, b in runs(inside[y]):
            before, after = img[y, a:b], out[y, a:b]
            assert sorted(map(tuple, before)) == sorted(map(tuple, after))  # same pixels
            key = brightness(after[None])[0]
            steps = np.diff(key) * (-1 if reverse else 1)
            assert (steps >= -1e-6).all()
            sorted_runs += b - a > 1
    assert sorted_runs > 20  # the test image has runs to sort


def test_pixel_sort_columns_is_rows_of_the_transpose():
    img = random_image(20, 16, seed=1)
    by_columns = pixel_sort(img, direction="columns", key="hue")
    expected = pixel_sort(img.transpose(1, 0, 2), key="hue").transpose(1, 0, 2)
    assert np.array_equal(by_columns, expected) and not np.array_equal(by_columns, img)


def test_pixel_sort_max_run_makes_shorter_streaks():
    img = np.repeat(np.linspace(200, 60, 30).astype(np.uint8)[None, :, None], 3, axis=2)
    whole = pixel_sort(img, low=0.0, high=1.0)
    pairs = pixel_sort(img, low=0.0, high=1.0, max_run=2)
    assert np.array_equal(whole[0, :, 0], np.sort(img[0, :, 0]))
    assert np.array_equal(pairs[0, :, 0], np.sort(img[0, :, 0].reshape(15, 2), axis=1).ravel())


# -- kaleidoscope ------------------------------------------------------------------------
@pytest.mark.parametrize("segments", [4, 8])
def test_kaleidoscope_has_rotational_and_mirror_symmetry(segments):
    img = random_image(41, 41, seed=2)  # odd size: the centre is a pixel centre
    out = kaleidoscope(img, segments=segments, rotation=17, zoom=0.9).astype(int)
    assert np.abs(out - np.rot90(out)).mean() < 1.0  # 90 degrees is a multiple of 360/n
    assert np.abs(out - np.flipud(out)).mean() < 1.0  # mirror across the horizontal axis
    assert np.abs(out - img.astype(int)).mean() > 20  # and it did change the image


def test_kaleidoscope_samples_stay_inside_the_source():
    img = np.full((16, 24, 3), (10, 200, 90), np.uint8)
    assert (kaleidoscope(img, segments=6, zoom=5.0) == img).all()  # mirrored, never black


# -- glitch-transfer ------------------------------------------------------------------------
def test_glitch_transfer_takes_the_style_palette_and_shifts_red_and_blue():
    from types import SimpleNamespace

    from artforge_glitch.transfer import glitch_transfer

    content, style = random_image(20, 30, seed=4), random_image(20, 30, seed=5)
    flat = glitch_transfer(content, style, SimpleNamespace(options={"shift": 0}))
    for c in range(3):  # the style's values exactly (same size), in the content's order
        assert np.array_equal(np.sort(flat[..., c].ravel()), np.sort(style[..., c].ravel()))
        order = np.argsort(content[..., c].ravel(), kind="stable")
        assert (np.diff(flat[..., c].ravel()[order].astype(int)) >= 0).all()
    out = glitch_transfer(content, style, SimpleNamespace(options={"shift": 4}))
    assert np.array_equal(out[..., 0], np.roll(flat[..., 0], 4, axis=1))
    assert np.array_equal(out[..., 1], flat[..., 1])
    assert np.array_equal(out[..., 2], np.roll(flat[..., 2], -4, axis=1))


def test_glitch_transfer_is_a_stylize_method(tmp_path):
    pytest.importorskip("torch")
    recipe = """
name: transfer
backend: torch
device: cpu
steps:
  - {id: scenes, uses: synthetic-scenes, with: {count: 2, holdout: 0, size: 32}}
  - id: glitched
    uses: stylize
    with: {images: '${scenes.night}', style: 'builtin:mosaic', method: glitch-transfer,
           options: {shift: 2}, size: 32, features: random}
gallery: {enabled: false}
"""
    result = run_recipe(recipe, tmp_path / "run")
    out, night = result.images("glitched"), result.images("scenes", "night")
    style = result.images("glitched", "style").load(0)
    assert out.names == night.names
    for c in (0, 1, 2):  # the style's palette: its histogram, channel by channel
        assert np.array_equal(np.sort(out.load(0)[..., c].ravel()), np.sort(style[..., c].ravel()))
    assert result.record("glitched")["info"]["method"].startswith("glitch-transfer (plugin glitch)")
    with pytest.raises(RecipeError, match="did you mean 'glitch-transfer'"):
        run_recipe(recipe.replace("method: glitch-transfer", "method: glitch-transfr"), tmp_path)


# -- the CPPN generator --------------------------------------------------------------------
def test_cppn_generator_is_a_resolution_independent_generator():
    torch = pytest.importorskip("torch")
    from artforge_glitch.cppn import CPPN

    net = CPPN(nz=4, hidden=12, layers=3, image_size=20)
    net.reset_parameters(torch.Generator().manual_seed(0))
    z = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        small, large = net(z), net(z, size=39)
    assert small.shape == (2, 3, 20, 20) and large.shape == (2, 3, 39, 39)
    assert small.abs().max() <= 1 and small.std() > 0.05  # in [-1, 1], not flat
    with torch.no_grad():
        coarse = net(z, size=20)
    # the grid of 39 samples contains the grid of 20 at every other pixel
    assert torch.allclose(large[..., ::2, ::2], coarse, atol=1e-5)
    assert not torch.allclose(small[0], small[1])  # z changes the picture
    with pytest.raises(ValueError, match="z of size 4"):
        net(torch.zeros(1, 5))


# -- the steps in recipes ------------------------------------------------------------------
def test_the_example_recipe_runs_end_to_end(tmp_path):
    pytest.importorskip("torch")
    overrides = ["vars.size=32", "vars.count=2", "device=cpu"]
    result = run_recipe(RECIPE, tmp_path / "run", overrides=overrides)
    assert set(result.status.values()) == {"ran"}
    assert result.images("sorted").names == result.images("scenes", "day").names
    assert len(result.images("art")) == len(result.images("kaleido")) == 2
    assert result.images("sheet", "sheets").load(0).shape[0] > 64
    assert result.record("art")["plugin"] == "glitch"
    assert result.record("art")["device"] == "cpu"
    assert (tmp_path / "run" / "index.html").is_file()
    # the built-in sample step drew from the plugin's registered CPPN generator
    walk = result.record("walk")
    assert walk["info"]["generator"] == "cppn (registered, random weights)"
    assert len(result.images("walk")) == 2 and result.images("walk").load(0).shape[1] == 32
    with Image.open(result.images("walk", "walk").root / "walk.gif") as gif:
        assert gif.n_frames == 4 * 6
    again = run_recipe(RECIPE, tmp_path / "run", overrides=overrides)
    assert set(again.status.values()) == {"reused"}  # steps are cached like built-in ones


def test_cppn_art_is_deterministic_per_seed(tmp_path):
    pytest.importorskip("torch")
    recipe = """
name: cppn
backend: torch
device: cpu
steps:
  - {id: art, uses: cppn-art, with: {count: 2, size: 16, grayscale: true}}
gallery: {enabled: false}
"""
    first = run_recipe(recipe, tmp_path / "a").images("art")
    same = run_recipe(recipe, tmp_path / "b").images("art")
    other = run_recipe(recipe, tmp_path / "c", overrides=["seed=5"]).images("art")
    a, b, c = (s.load(0) for s in (first, same, other))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert (a[..., 0] == a[..., 1]).all()  # grayscale, stored as RGB


def test_cppn_art_shared_weights_means_one_network(tmp_path):
    pytest.importorskip("torch")
    recipe = """
name: shared
device: cpu
steps:
  - {id: art, uses: cppn-art, with: {count: 2, size: 16, z_scale: 0, shared_weights: SHARED}}
gallery: {enabled: false}
"""
    # without z, the images of one network are identical; of two networks, different
    one = run_recipe(recipe.replace("SHARED", "true"), tmp_path / "one").images("art")
    two = run_recipe(recipe.replace("SHARED", "false"), tmp_path / "two").images("art")
    assert np.array_equal(one.load(0), one.load(1))
    assert not np.array_equal(two.load(0), two.load(1))


def test_pixel_sort_thresholds_are_validated(tmp_path):
    recipe = """
name: bad
steps:
  - {id: scenes, uses: synthetic-scenes, with: {count: 1, holdout: 0, size: 32}}
  - {id: sorted, uses: pixel-sort, with: {images: "${scenes.day}", low: 0.9, high: 0.2}}
"""
    with pytest.raises(RecipeError, match=r"low \(0.9\) must not be above high \(0.2\)"):
        run_recipe(recipe, tmp_path / "run")


# -- the command ----------------------------------------------------------------------------
def test_glitch_command_writes_the_effect(tmp_path):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    img = random_image(25, 25, seed=3)
    save_png(src, img)
    out = artforge("glitch", str(src), str(dst), "--effect", "kaleidoscope", "--segments", "4")
    assert out.returncode == 0, out.stderr
    from artforge.api import load_image

    assert np.array_equal(load_image(dst), kaleidoscope(img, segments=4))
