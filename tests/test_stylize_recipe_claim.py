"""The stylize recipe's claim at a reduced size: its default method (patch, Elad & Milanfar
2017) is closer to the style's texture than the colour-only baseline on every photograph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from artforge.images import resize
from artforge.patchstyle import PatchOptions, patch_style_transfer
from artforge.styles import render_style
from artforge.stylescore import colour_transfer, texture_distance, texture_stats

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "stylize.yaml"


def _recipe_photos_and_style() -> tuple[list[str], str, dict]:
    recipe = yaml.safe_load(RECIPE.read_text())
    steps = {s["id"]: s for s in recipe["steps"]}
    painted = steps["painted"]["with"]
    assert painted["method"] == "patch" and painted["images"] == "${photos.images}"
    style = recipe["vars"]["style"]
    assert style.startswith("builtin:")
    return steps["photos"]["with"]["skimage"], style.removeprefix("builtin:"), painted


@pytest.mark.slow
def test_patch_method_beats_the_colour_baseline_on_every_recipe_photo():
    data = pytest.importorskip("skimage.data")
    names, style_name, painted = _recipe_photos_and_style()
    size = 128  # the recipe's 256 halved; patch sizes scale with it
    opts = PatchOptions(**painted.get("options", {}))
    opts.patch_sizes = [max(5, n // 2) | 1 for n in opts.patch_sizes]
    style = render_style(style_name, size, 0)
    ref = texture_stats(style)
    for name in names:
        img = getattr(data, name)()[..., :3]
        s = min(img.shape[:2])
        y0, x0 = (img.shape[0] - s) // 2, (img.shape[1] - s) // 2
        img = resize(np.ascontiguousarray(img[y0 : y0 + s, x0 : x0 + s]), (size, size))
        out = patch_style_transfer(img, style, opts, seed=0).image
        ours = texture_distance(out, ref)
        baseline = texture_distance(colour_transfer(img, style), ref)
        assert ours < 0.8 * baseline, (name, ours, baseline)
