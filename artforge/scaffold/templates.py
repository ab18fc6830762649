"""The files ``artforge new-plugin NAME`` writes, as text with placeholders.

Placeholders: ``__NAME__`` (the plugin name, also its entry-point name), ``__DIST__`` (the
distribution, ``artforge-NAME``), ``__PKG__`` (the import package, ``artforge_NAME``),
``__STEP__`` (the step type, ``NAME-posterize``), ``__REQUIRES__`` (the artforge versions,
e.g. ``>=0.1,<0.2``). They are kept as Python strings, not data files, so they ship in every
kind of install. ``tests/plugins/test_scaffold.py`` installs the result and runs its tests.
"""

from __future__ import annotations

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "An artforge plugin: the __STEP__ step"
readme = "README.md"
requires-python = ">=3.10"
# The artforge versions this plugin supports: pip enforces it, and artforge refuses to load
# the plugin (naming it and the versions) if another version is installed anyway.
dependencies = ["artforge__REQUIRES__", "numpy"]

[project.optional-dependencies]
test = ["pytest"]

# How artforge finds the plugin: an entry point in the `artforge` group.
# The name on the left is the plugin name (`artforge plugins`, ARTFORGE_PLUGINS=__NAME__).
[project.entry-points.artforge]
__NAME__ = "__PKG__"

[tool.setuptools]
packages = ["__PKG__"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

INIT = '''\
"""An artforge plugin: one step and its parameter schema.

artforge imports this module (the entry point in pyproject.toml) on every command, so
keep it light: it declares the step and its parameters, and the step's code, in
``steps.py``, is imported only when a recipe runs the step. Import from ``artforge.api``
only: the rest of artforge is private. Reference: docs/plugins.md in artforge.
"""

from __future__ import annotations

from artforge.api import InputRef, Params, StepType, hookimpl
from pydantic import Field


class PosterizeParams(Params):
    """The ``with:`` keys of the step: unknown keys and bad values are recipe errors."""

    images: InputRef = Field(description="the images to posterize, e.g. ${scenes.day}")
    levels: int = Field(4, ge=2, le=256, description="levels per colour channel")


@hookimpl
def register_steps(register):
    register(
        StepType(
            name="__STEP__",
            params=PosterizeParams,
            run="__PKG__.steps:posterize",
            outputs=("images",),
            description="Posterize images: a few levels per colour channel",
        )
    )
'''

STEPS = '''\
"""The step's code, imported only when a recipe runs the step."""

from __future__ import annotations

import numpy as np
from artforge.api import StepError


def posterize(ctx, p):
    """``ctx``: artforge.api.StepContext; ``p``: a validated PosterizeParams."""
    src = ctx.images(p.images)
    if len(src) == 0:
        raise StepError(f"step '{ctx.step_id}': {p.images} holds no images")
    out = ctx.image_writer("images")
    step = 255.0 / (p.levels - 1)
    for i, name in enumerate(src.names):
        img = src.load(i).astype(np.float32)  # uint8, height x width x 3
        levels = np.rint(np.rint(img / step) * step).astype(np.uint8)
        out.add(levels, name=name)  # the same name: the gallery pairs input and output
    ctx.metrics["images"] = len(src)  # shown in the gallery
    return {"images": out.finish(levels=p.levels)}
'''

TEST = '''\
"""Tests of the plugin: `pip install -e ".[test]"`, then `pytest`."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from artforge.api import RecipeError, run_recipe

# The entry point's name (how artforge names the plugin) and the package it points at
PLUGIN = "__NAME__"
PACKAGE = "__PKG__"

RECIPE = """
name: __NAME__-test
seed: 1
steps:
  - id: scenes
    uses: synthetic-scenes          # a built-in step: procedural night/day images
    with: {count: 2, holdout: 0, size: 32}
  - id: poster
    uses: __STEP__
    with: {images: "${scenes.day}", levels: 3}
gallery: {enabled: false}
"""


def test_installed_as_an_artforge_plugin():
    entry_points = importlib.metadata.entry_points(group="artforge")
    plugins = {ep.name: ep.value for ep in entry_points}
    message = "install the plugin first: pip install -e ."
    assert plugins.get(PLUGIN) == PACKAGE, message


def test_step_runs_in_a_recipe(tmp_path):
    result = run_recipe(RECIPE, tmp_path / "run")
    src, out = result.images("scenes", "day"), result.images("poster")
    assert out.names == src.names  # same names: the gallery shows them as pairs
    for i in range(len(out)):
        img = out.load(i)
        assert img.shape == src.load(i).shape
        assert set(np.unique(img).tolist()) <= {0, 128, 255}  # 3 levels per channel
    record = result.record("poster")
    assert record["plugin"] == PLUGIN
    assert record["metrics"]["images"] == 2


def test_levels_are_validated(tmp_path):
    with pytest.raises(RecipeError, match="levels"):
        run_recipe(RECIPE.replace("levels: 3", "levels: 1"), tmp_path / "run")
'''

README = """\
# __DIST__

An artforge plugin that adds the step `__STEP__`:
posterize images to a few levels per colour channel.

## Install

```bash
pip install -e .            # from this folder; then:
artforge plugins            # lists __NAME__
artforge steps __STEP__     # its parameters
```

## Use it in a recipe

```yaml
name: posterized
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 8, holdout: 0, size: 64}
  - id: poster
    uses: __STEP__
    with: {images: "${scenes.day}", levels: 4}
```

## Develop

```bash
pip install -e ".[test]"
pytest
ARTFORGE_TRACE_PLUGINS=1 artforge steps   # which plugin answers which hook
```

`__PKG__/__init__.py` declares the step and its parameter schema; `__PKG__/steps.py` is
its code; `tests/` runs it in a small recipe with `artforge.api.run_recipe`. The artforge
plugin reference (every hook, the step context, testing, errors) is docs/plugins.md in the
artforge repository.
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
.pytest_cache/
gallery/
"""

FILES = {
    "pyproject.toml": PYPROJECT,
    "__PKG__/__init__.py": INIT,
    "__PKG__/steps.py": STEPS,
    "tests/test___NAME_ID__.py": TEST,
    "README.md": README,
    ".gitignore": GITIGNORE,
}
