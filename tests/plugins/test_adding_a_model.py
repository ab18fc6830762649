"""docs/adding-a-model.md: the files it shows are the example's, and the example works.

The walk adds ``colour-gan`` to both backends with one networks file and one runtime file
per backend plus one registration (docs/examples/colournet/); the recipe trains it and
translates with its generator, found in the registry by its ``arch``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from artforge.api import RecipeError, run_recipe

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "adding-a-model.md"
EXAMPLE = ROOT / "docs" / "examples" / "colournet"
RECIPE = EXAMPLE / "colournet.yaml"


@pytest.fixture
def colournet(monkeypatch):
    """The example plugin, importable as a recipe names it (``plugins: [artforge_colournet]``)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield importlib.import_module("artforge_colournet")
    for name in [m for m in sys.modules if m.startswith("artforge_colournet")]:
        sys.modules.pop(name)


def test_the_doc_shows_the_example_files_as_they_are():
    blocks = re.findall(r'```\w+ title="([^"]+)"\n(.*?)```\n', DOC.read_text(), re.S)
    shown = {title: text for title, text in blocks}
    files = sorted(EXAMPLE.rglob("*.py")) + [RECIPE]
    assert sorted(shown) == sorted(str(f.relative_to(ROOT)) for f in files)
    for f in files:
        assert shown[str(f.relative_to(ROOT))] == f.read_text(), f
    # the walk: one networks file and one runtime file per backend, plus one registration
    names = sorted(f.name for f in (EXAMPLE / "artforge_colournet").glob("*.py"))
    assert names == [
        "__init__.py",
        "keras_nets.py",
        "keras_runtime.py",
        "torch_nets.py",
        "torch_runtime.py",
    ]


def test_the_example_options_are_checked_when_the_recipe_loads(colournet, tmp_path):
    with pytest.raises(RecipeError) as err:
        run_recipe(RECIPE, tmp_path / "run", overrides=["steps.train.with.options.widht=8"])
    msg = str(err.value)
    assert f"{RECIPE}:23:16" in msg and "unknown option 'widht' of trainer 'colour-gan'" in msg
    assert "did you mean 'width'?" in msg


def _check_run(result, backend: str) -> None:
    assert set(result.status.values()) == {"ran"}
    train = result.record("train")
    assert train["backend"] == backend and train["params"]["options"] == {"width": 16}
    assert train["metrics"]["pairs"] == 10 and train["metrics"]["iterations"] == 60
    l1 = [y for _, y in train["series"]["loss_L1"]]
    assert np.mean(l1[-5:]) < 0.95 * np.mean(l1[:5]), l1  # the colour map learns
    gen = result.outputs["train"]["generator"]
    assert gen.meta["arch"] == "colournet" and gen.meta["kwargs"] == {"width": 16}
    day, night = result.images("day"), result.images("scenes", "holdout_night")
    assert day.names == night.names and day.load(0).shape == night.load(0).shape
    assert result.record("day")["metrics"]["scored_images"] == 2


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_the_example_trains_and_translates_on_torch(colournet, tmp_path):
    _check_run(run_recipe(RECIPE, tmp_path / "run", plugins=[colournet]), "torch")


@pytest.mark.slow
@pytest.mark.keras
@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="needs keras")
def test_the_example_trains_and_translates_on_keras(colournet, tmp_path):
    result = run_recipe(RECIPE, tmp_path / "run", plugins=[colournet], overrides=["backend=keras"])
    _check_run(result, "keras")
