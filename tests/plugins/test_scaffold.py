"""`artforge new-plugin NAME`: the package it writes installs and passes its own tests."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys

import pytest
import tomllib

from artforge import cli
from artforge.api import ArtforgeError, run_recipe
from artforge.scaffold import create_plugin, plugin_names, supported_versions


def test_new_plugin_writes_the_package(tmp_path, capsys):
    assert cli.main(["new-plugin", "demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "artforge-demo"
    assert f"created {root}/: plugin 'demo' with the step 'demo-posterize'" in out
    assert 'pip install -e ".[test]" && pytest' in out
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "artforge_demo/__init__.py",
        "artforge_demo/steps.py",
        "pyproject.toml",
        "tests/test_demo.py",
    ]
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "artforge-demo"
    assert meta["project"]["entry-points"]["artforge"] == {"demo": "artforge_demo"}
    assert "artforge>=0.1,<0.2" in meta["project"]["dependencies"]
    text = "".join(p.read_text() for p in root.rglob("*") if p.is_file())
    assert "__" + "NAME" not in text and "__PKG__" not in text and "__STEP__" not in text


def test_generated_step_works_before_installation(tmp_path, monkeypatch):
    """The generated module registers a step that runs (no pip needed for this check)."""
    sk = create_plugin("quick-check", tmp_path)
    monkeypatch.syspath_prepend(str(sk.root))
    importlib.invalidate_caches()
    module = importlib.import_module("artforge_quick_check")
    try:
        recipe = (
            "name: t\nsteps:\n"
            "  - {id: s, uses: synthetic-scenes, with: {count: 1, holdout: 0, size: 32}}\n"
            "  - {id: p, uses: quick-check-posterize, with: {images: '${s.day}', levels: 2}}\n"
            "gallery: {enabled: false}\n"
        )
        result = run_recipe(recipe, tmp_path / "run", plugins=[module], load_installed=False)
        assert set(result.images("p").load(0).ravel().tolist()) <= {0, 255}
        assert result.record("p")["metrics"] == {"images": 1}
    finally:
        for name in ("artforge_quick_check", "artforge_quick_check.steps"):
            sys.modules.pop(name, None)


def test_generated_code_passes_ruff(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    sk = create_plugin("a-rather-long-name-for-a-plugin-40-chars", tmp_path)  # 40 characters
    rules = "E,F,W,I,B,UP,SIM"
    for args in (["check", "--isolated", "--select", rules], ["format", "--isolated", "--check"]):
        out = subprocess.run([ruff, *args, "."], cwd=sk.root, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("demo", ("demo", "artforge-demo", "artforge_demo", "demo-posterize")),
        (
            "artforge-glow-tools",
            ("glow_tools", "artforge-glow-tools", "artforge_glow_tools", "glow-tools-posterize"),
        ),
        ("pix2", ("pix2", "artforge-pix2", "artforge_pix2", "pix2-posterize")),
    ],
)
def test_names(name, expected):
    assert plugin_names(name) == expected


@pytest.mark.parametrize(
    ("name", "message", "hint"),
    [
        ("My Plugin", "invalid plugin name 'My Plugin'", "artforge new-plugin my-plugin"),
        ("2d", "invalid plugin name '2d'", "artforge new-plugin glitch-tools"),
        ("a--b", "invalid plugin name 'a--b'", "artforge new-plugin a-b"),
        ("torch", "the plugin name 'torch' is taken by artforge itself", "choose another"),
        ("x" * 41, "invalid plugin name 'xxxx", "artforge new-plugin glitch-tools"),
        ("class", "the plugin name 'class' is taken by artforge itself", "choose another"),
    ],
)
def test_invalid_names_are_refused(tmp_path, capsys, name, message, hint):
    assert cli.main(["new-plugin", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and hint in err
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "artforge-demo").mkdir()
    (tmp_path / "artforge-demo" / "mine.txt").write_text("keep me")
    with pytest.raises(ArtforgeError, match="already exists and is not empty"):
        create_plugin("demo", tmp_path)
    assert [p.name for p in (tmp_path / "artforge-demo").iterdir()] == ["mine.txt"]
    (tmp_path / "empty" / "artforge-demo").mkdir(parents=True)
    create_plugin("demo", tmp_path / "empty")  # an empty folder is fine


def test_supported_versions():
    assert supported_versions("0.1.0") == ">=0.1,<0.2"
    assert supported_versions("0.12.3") == ">=0.12,<0.13"
    assert supported_versions("1.4.0") == ">=1.4,<2"


@pytest.mark.slow
def test_new_plugin_installs_and_passes_its_tests_in_a_fresh_venv(fresh_venv, tmp_path):
    venv = fresh_venv("scaffold")
    work = tmp_path / "work"
    work.mkdir()
    made = venv.artforge("new-plugin", "demo", cwd=work)
    assert made.returncode == 0, made.stderr
    root = work / "artforge-demo"
    before = venv.artforge("steps", cwd=tmp_path)
    assert before.returncode == 0 and "demo-posterize" not in before.stdout
    venv.pip_install(root, editable=True)
    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=root)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    steps = venv.artforge("steps", "demo-posterize", cwd=tmp_path)
    assert steps.returncode == 0, steps.stderr
    assert "demo-posterize  (backend: any, plugin: demo)" in steps.stdout
    assert "levels (int, default 4)" in steps.stdout
