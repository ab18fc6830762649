"""The example plugin plugins/examples/artforge-glitch: registration without installing it,
and (slow) pip install into a fresh venv, then `artforge plugins`, `artforge steps`, its
recipe end to end, and its own test suite."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from artforge.plugins import PluginHost
from artforge.recipe import load_recipe

GLITCH = Path(__file__).resolve().parents[2] / "plugins" / "examples" / "artforge-glitch"


@pytest.fixture
def glitch_plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(GLITCH))
    importlib.invalidate_caches()
    yield importlib.import_module("artforge_glitch.plugin")
    for name in [m for m in sys.modules if m.startswith("artforge_glitch")]:
        sys.modules.pop(name, None)


def test_glitch_registers_its_steps_generator_and_command(glitch_plugin):
    host = PluginHost(load_installed=False)
    host.add_module(glitch_plugin, name="glitch", source="test")
    reg = host.registry
    assert host.infos["glitch"].registers == {
        "steps": ["pixel-sort", "kaleidoscope", "cppn-art [torch]"],
        "generators": ["cppn [torch]"],
        "style-optimisers": ["glitch-transfer"],
    }
    assert reg.find_step("pixel-sort", "keras").backend is None  # backend-free
    assert reg.find_step("cppn-art", "torch").backend == "torch"
    assert reg.component("generator", "cppn", "torch").factory == "artforge_glitch.cppn:CPPN"
    assert host.infos["glitch"].hooks == [
        "register_commands",
        "register_models",
        "register_steps",
        "register_style_optimisers",
    ]
    assert reg.component("style-optimiser", "glitch-transfer", "keras").backend is None


def test_glitch_recipe_validates_with_built_in_and_glitch_steps(glitch_plugin):
    host = PluginHost(load_installed=False)
    host.add_module(glitch_plugin, name="glitch", source="test")

    import artforge_torch.plugin  # light: registers the torch backend's steps, imports no torch

    host.add_module(artforge_torch.plugin, name="torch", source="test")
    recipe = load_recipe(GLITCH / "recipes" / "glitch.yaml", host)
    plugins = {s.id: s.type.plugin for s in recipe.steps}
    assert plugins == {
        "scenes": "builtin_steps",
        "sorted": "glitch",
        "art": "glitch",
        "kaleido": "glitch",
        "walk": "torch",
        "sheet": "builtin_steps",
    }


def test_glitch_registration_imports_no_framework():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import artforge_glitch.plugin; "
        "from artforge.plugins import PluginHost; h = PluginHost(load_installed=False); "
        "h.add_module(artforge_glitch.plugin, name='glitch', source='t'); h.registry; "
        "print([m for m in ('torch', 'artforge_glitch.cppn') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(GLITCH)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_pip_install_glitch_in_a_fresh_venv(fresh_venv, tmp_path):
    venv = fresh_venv("glitch")
    source = tmp_path / "artforge-glitch"  # a clean copy: the build writes into its source
    shutil.copytree(
        GLITCH,
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    work = tmp_path / "work"
    work.mkdir()

    before = venv.artforge("steps", cwd=work)
    assert before.returncode == 0 and "pixel-sort" not in before.stdout

    venv.pip_install(source)

    listed = venv.artforge("plugins", "--json", cwd=work)
    assert listed.returncode == 0, listed.stderr
    rows = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert rows["glitch"]["version"] == "0.1.0" and rows["glitch"]["source"] == "entry point"
    assert rows["glitch"]["registers"]["steps"] == [
        "pixel-sort",
        "kaleidoscope",
        "cppn-art [torch]",
    ]
    steps = venv.artforge("steps", cwd=work)
    for line in (
        "pixel-sort        [any  ]",
        "kaleidoscope      [any  ]",
        "cppn-art          [torch]",
    ):
        assert line in steps.stdout

    run = venv.artforge(
        "run",
        str(source / "recipes" / "glitch.yaml"),
        "--out",
        str(work / "run"),
        "--set",
        "vars.size=32",
        "--set",
        "vars.count=2",
        "--set",
        "device=cpu",
        "-q",
        cwd=work,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "done: 6 step(s) ran, 0 reused" in run.stdout
    manifest = json.loads((work / "run" / "manifest.json").read_text())
    assert [s["plugin"] for s in manifest["steps"]] == [
        "builtin_steps",
        "glitch",
        "glitch",
        "glitch",
        "torch",
        "builtin_steps",
    ]
    assert (work / "run" / "index.html").is_file()
    assert len(list((work / "run" / "steps" / "sheet" / "sheets").glob("*.png"))) == 1

    own_tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=source)
    assert own_tests.returncode == 0, own_tests.stdout + own_tests.stderr
    assert " passed" in own_tests.stdout and "skipped" not in own_tests.stdout
