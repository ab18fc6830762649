"""The public plugin API: artforge.api lists what plugins may import, and the plugins and
templates that ship with artforge import nothing else from artforge."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import artforge.api as api
from artforge.scaffold.templates import FILES

ROOT = Path(__file__).resolve().parents[2]
GLITCH = ROOT / "plugins" / "examples" / "artforge-glitch"


def test_every_public_name_exists_and_nothing_else_is_exported():
    for name in api.__all__:
        assert hasattr(api, name), name
    assert len(set(api.__all__)) == len(api.__all__)
    assert __import__("artforge").__version__ == api.API_VERSION
    # what the issue promises plugins: the marker, step context, artifacts, errors, helpers
    for name in (
        "hookimpl",
        "StepContext",
        "ImageSet",
        "ModelArtifact",
        "StepError",
        "DataError",
        "load_image",
        "save_png",
        "derive_seed",
        "run_recipe",
    ):
        assert name in api.__all__


def artforge_imports(source: str, filename: str) -> set[str]:
    """Every artforge module a Python source imports from."""
    found = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "artforge":
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "artforge"}
    return found


def test_example_plugin_imports_only_the_public_api():
    files = sorted(GLITCH.rglob("*.py"))
    assert len(files) >= 6
    for path in files:
        assert artforge_imports(path.read_text(), str(path)) <= {"artforge.api"}, path


def test_scaffold_templates_import_only_the_public_api():
    python = [rel for rel in FILES if rel.endswith(".py")]
    assert len(python) == 3
    for rel in python:
        assert artforge_imports(FILES[rel], rel) == {"artforge.api"}, rel


def test_run_recipe_takes_text_or_a_path_and_returns_outputs(tmp_path):
    text = (
        "name: api\nseed: 4\nsteps:\n"
        "  - {id: s, uses: synthetic-scenes, with: {count: 2, holdout: 1, size: 32}}\n"
        "gallery: {enabled: false}\n"
    )
    from_text = api.run_recipe(text, tmp_path / "a", load_installed=False)
    path = tmp_path / "r.yaml"
    path.write_text(text)
    from_path = api.run_recipe(path, tmp_path / "b", overrides=["seed=4"], load_installed=False)
    assert from_text.status == from_path.status == {"s": "ran"}
    a, b = from_text.images("s", "holdout_day"), from_path.images("s", "holdout_day")
    assert len(a) == 1 and np.array_equal(a.load(0), b.load(0))
    assert from_text.record("s")["seed"] == from_path.record("s")["seed"]
    assert json.loads((from_text.run_dir / "manifest.json").read_text())["status"] == "ok"
    with pytest.raises(TypeError, match="not images"):
        api.RunResult(tmp_path, {"s": {"m": api.FileArtifact(tmp_path, "x")}}).images("s", "m")


def test_run_recipe_raises_what_artforge_run_reports(tmp_path):
    with pytest.raises(api.RecipeError, match=r"steps\[0\]\.with\.cuont: unknown key"):
        api.run_recipe(
            "name: x\nsteps:\n  - {id: s, uses: synthetic-scenes, with: {cuont: 2}}\n",
            tmp_path,
            load_installed=False,
        )


def test_run_recipe_registers_a_plugin_once_even_when_installed(tmp_path):
    """plugins=[module] works whether or not the module is also an installed entry point."""
    import artforge.default_plugins.builtin_steps as builtin

    text = "name: x\nsteps:\n  - {id: s, uses: synthetic-scenes, with: {count: 1, size: 32}}\n"
    result = api.run_recipe(text, tmp_path, plugins=[builtin], load_installed=False)
    assert result.record("s")["plugin"] == "builtin_steps"
