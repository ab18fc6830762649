"""Issue 14, item 8: plugin loading edge cases. A plugin that exits or hangs at import is
named; two recipe plugin files with one name both load (or clash by name); ``ARTFORGE_PLUGINS``
naming a plugin that is not installed warns with the installed names, and an unknown step type
under ``ARTFORGE_PLUGINS`` says that the variable left plugins out. (Misspelt required keys
and a recipe plugin calling ``sys.exit`` are cases of the bad-recipe corpus.)"""

from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import time

import pytest

from artforge.plugins import PluginHost, PluginImportInterrupted

from .conftest import subprocess_env

SCENES = """name: t
plugins: [{plugins}]
steps:
  - id: scenes
    uses: {uses}
    with: {with_}
"""

STEP_PLUGIN = """from artforge.api import Params, StepType, hookimpl

@hookimpl
def register_steps(register):
    register(StepType("{step}", Params, lambda ctx, p: {{}}, ("images",), "from {where}"))
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """installed(entry_name, module, code): a plugin package as pip leaves it (a dist-info
    folder with an ``artforge`` entry point) on sys.path for this test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    made: list[str] = []

    def install(entry: str, module: str, code: str) -> None:
        (site / f"{module}.py").write_text(code)
        info = site / f"artforge_{entry}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: artforge-{entry}\nVersion: 1.0\n"
        )
        (info / "entry_points.txt").write_text(f"[artforge]\n{entry} = {module}\n")
        made.append(module)
        importlib.invalidate_caches()

    yield install
    for module in made:
        sys.modules.pop(module, None)


# -- exit and hang at import ------------------------------------------------------------------
def test_a_recipe_plugin_that_hangs_at_import_is_named_on_ctrl_c(tmp_path, tally):
    """A real Ctrl-C (SIGINT) while the plugin sleeps at import: exit status 130 and the
    plugin's file in the message, no traceback."""
    (tmp_path / "slow_plugin.py").write_text(
        "import pathlib, time\n"
        "pathlib.Path(__file__).with_name('importing').write_text('')\n"
        "time.sleep(60)\n"
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        SCENES.format(plugins="slow_plugin.py", uses="synthetic-scenes", with_="{count: 2}")
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "artforge", "validate", str(recipe)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "importing").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "the plugin never started importing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted while importing plugin file" in err and "slow_plugin.py" in err, err
    assert "Traceback" not in err
    tally["plugin loading edge cases"] += 1


def test_ctrl_c_while_an_installed_plugin_imports_names_it(
    installed, monkeypatch, fresh_cli, capsys
):
    installed("stuck", "artforge_stuck_plug", "raise KeyboardInterrupt  # Ctrl-C in a hang\n")
    monkeypatch.setenv("ARTFORGE_PLUGINS", "stuck")
    with pytest.raises(PluginImportInterrupted, match="importing plugin 'stuck'"):
        PluginHost()
    assert fresh_cli(["steps"]) == 130
    err = capsys.readouterr().err
    assert "interrupted while importing plugin 'stuck' (artforge_stuck_plug)" in err, err
    assert "Traceback" not in err


def test_an_installed_plugin_that_exits_at_import_is_skipped(installed, monkeypatch, tally):
    installed("quitter", "artforge_quitter_plug", "import sys\n\nsys.exit(4)\n")
    monkeypatch.setenv("ARTFORGE_PLUGINS", "quitter")
    host = PluginHost()  # artforge itself does not exit
    assert host.failures["quitter"].error == "it called sys.exit(4) while importing"
    assert "synthetic-scenes" in host.registry.step_names()
    tally["plugin loading edge cases"] += 1


def test_a_recipe_plugin_that_exits_while_registering_is_named(tmp_path, fresh_cli, capsys):
    (tmp_path / "quits.py").write_text(
        "import sys\nfrom artforge.api import hookimpl\n\n"
        "@hookimpl\ndef register_steps(register):\n    sys.exit(5)\n"
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(SCENES.format(plugins="quits.py", uses="synthetic-scenes", with_="{}"))
    assert fresh_cli(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert (
        "plugin 'recipe_plugin_quits' failed in hook register_steps: it called sys.exit(5)" in err
    )


# -- two recipe plugin files with one name ----------------------------------------------------
def twins(tmp_path, steps: tuple[str, str]) -> None:
    for folder, step in zip(("a", "b"), steps):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "plugin.py").write_text(STEP_PLUGIN.format(step=step, where=folder))


def test_two_recipe_plugin_files_with_one_name_both_load(tmp_path, fresh_cli, capsys, tally):
    twins(tmp_path, ("from-a", "from-b"))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(SCENES.format(plugins="a/plugin.py, b/plugin.py", uses="from-b", with_="{}"))
    from artforge.recipe import load_recipe

    host = PluginHost(load_installed=False)
    rec = load_recipe(recipe, host)
    assert rec.steps[0].type.name == "from-b"
    assert {"from-a", "from-b"} <= set(host.registry.step_names())
    sources = {i.source for i in host.infos.values()}
    assert {f"recipe ({tmp_path / d / 'plugin.py'})" for d in "ab"} <= sources
    load_recipe(recipe, host)  # loading the recipe again loads nothing twice
    assert len([n for n in host.infos if n.startswith("recipe_plugin_")]) == 2
    assert fresh_cli(["validate", str(recipe)]) == 0, capsys.readouterr().err
    tally["plugin loading edge cases"] += 1


def test_two_recipe_plugin_files_with_one_name_that_clash_are_refused_by_name(
    tmp_path, fresh_cli, capsys
):
    twins(tmp_path, ("twin", "twin"))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(SCENES.format(plugins="a/plugin.py, b/plugin.py", uses="twin", with_="{}"))
    assert fresh_cli(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"{recipe}:2:" in err and "plugins[1]" in err and "'twin'" in err, err
    assert "registered twice" in err


# -- ARTFORGE_PLUGINS -------------------------------------------------------------------------
def test_artforge_plugins_naming_an_unknown_plugin_warns_with_the_known_names(
    installed, monkeypatch, fresh_cli, capsys, tally
):
    from artforge import cli

    installed("sparkle", "artforge_sparkle_plug", "")
    monkeypatch.setenv("ARTFORGE_PLUGINS", "sparkel,nothing-like-it")
    assert fresh_cli(["steps"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("warning: ARTFORGE_PLUGINS")]
    assert len(lines) == 2, err
    assert "names 'sparkel', which is not an installed plugin (did you mean 'sparkle'?)" in err
    assert "names 'nothing-like-it'" in err
    assert all("installed plugins: " in ln and "sparkle" in ln for ln in lines)
    monkeypatch.setenv("ARTFORGE_PLUGINS", "sparkle")
    monkeypatch.setattr(cli, "_HOST", [])  # a new process: a new host
    assert fresh_cli(["steps"]) == 0
    assert "warning" not in capsys.readouterr().err
    tally["plugin loading edge cases"] += 1


def test_an_unknown_step_type_mentions_artforge_plugins_when_it_is_set(
    installed, monkeypatch, tmp_path, fresh_cli, capsys, tally
):
    from artforge import cli

    installed("sparkle", "artforge_sparkle_plug", STEP_PLUGIN.format(step="sparkle", where="x"))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(SCENES.format(plugins="", uses="sparkle", with_="{}"))
    monkeypatch.setenv("ARTFORGE_PLUGINS", "")
    assert fresh_cli(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "unknown step type 'sparkle'" in err and "ARTFORGE_PLUGINS=''" in err, err
    assert "sparkle" in err.split("left out:")[1]
    assert fresh_cli(["steps", "sparkle"]) == 2
    assert "ARTFORGE_PLUGINS" in capsys.readouterr().err
    monkeypatch.delenv("ARTFORGE_PLUGINS")
    monkeypatch.setattr(cli, "_HOST", [])  # a new process: a new host
    recipe.write_text(SCENES.format(plugins="", uses="glitter", with_="{}"))
    assert fresh_cli(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "unknown step type 'glitter'" in err and "ARTFORGE_PLUGINS" not in err, err
    tally["plugin loading edge cases"] += 1
