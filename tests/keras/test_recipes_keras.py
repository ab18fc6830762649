"""The shipped recipes switch to the Keras backend by one value (--set backend=keras)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")

from artforge.cli import main  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", ["night_to_day", "super_resolution", "stylize"])
def test_recipes_validate_with_the_keras_backend(name):
    path = RECIPES / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this checkout")
    assert main(["validate", str(path), "--set", "backend=keras"]) == 0


@pytest.mark.slow
def test_main_recipe_runs_on_keras_at_a_tiny_size(tmp_path):
    path = RECIPES / "night_to_day.yaml"
    if not path.exists():
        pytest.skip("recipes/night_to_day.yaml is not in this checkout")
    tiny = {
        "size": 32,
        "pairs": 8,
        "holdout": 4,
        "validation": 2,
        "epochs": 1,
        "decay_epochs": 1,
        "batch": 4,
        "ngf": 8,
        "sr_steps": 10,
        "sr_patch": 16,
        "style_steps": 3,
        "style_size": 32,
    }
    sets = [a for k, v in tiny.items() for a in ("--set", f"vars.{k}={v}")]
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "-q", "--set", "backend=keras", *sets]) == 0
    train = json.loads((out / "steps/train/record.json").read_text())
    assert train["backend"] == "keras" and train["metrics"]["iterations"] == 4
    assert train["outputs"]["generator"]["file"] == "generator.weights.h5"
    rec = json.loads((out / "steps/translate/record.json").read_text())
    assert rec["backend"] == "keras" and rec["metrics"]["scored_images"] == 4
    assert len(rec["outputs"]["baseline"]["files"]) == 4
    collage = json.loads((out / "steps/collage/record.json").read_text())
    assert len(collage["outputs"]["sheets"]["files"]) >= 1
