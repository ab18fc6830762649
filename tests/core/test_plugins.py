import importlib.metadata
import sys
import textwrap

import pytest

from artforge.errors import PluginError
from artforge.hookspecs import hookimpl
from artforge.plugins import PluginHost
from artforge.recipe import load_recipe


def test_entry_point_discovery(monkeypatch, tmp_path):
    """A distribution faked with a dist-info folder on sys.path is found by its entry point."""
    pkg = tmp_path / "fakeplug.py"
    pkg.write_text(
        textwrap.dedent(
            """
            from artforge.api import hookimpl, Params, StepType

            class P(Params):
                n: int = 1

            @hookimpl
            def register_steps(register):
                register(StepType("fake-step", P, "fakeplug:run", ("images",), "a fake step"))
            """
        )
    )
    dist = tmp_path / "artforge_fake-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: artforge-fake\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[artforge]\nfake = fakeplug\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setenv("ARTFORGE_PLUGINS", "fake")
    host = PluginHost()
    assert "fake" in host.infos
    info = host.infos["fake"]
    assert info.version == "1.2.3" and info.distribution == "artforge-fake"
    assert info.source == "entry point"
    assert host.registry.find_step("fake-step", "torch").plugin == "fake"
    sys.modules.pop("fakeplug", None)


def test_env_var_restricts_installed_plugins(monkeypatch):
    monkeypatch.setenv("ARTFORGE_PLUGINS", "")
    host = PluginHost()
    assert set(host.infos) == {"builtin_steps"}
    monkeypatch.setenv("ARTFORGE_PLUGINS", "torch")
    host = PluginHost()
    assert "torch" in host.infos and "keras" not in host.infos


def test_broken_entry_point_is_reported_and_skipped(monkeypatch, tmp_path):
    (tmp_path / "brokenplug.py").write_text("raise ImportError('no module named foo')\n")
    dist = tmp_path / "artforge_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: artforge-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[artforge]\nbroken = brokenplug\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setenv("ARTFORGE_PLUGINS", "broken")
    host = PluginHost()
    assert "broken" in host.failures and "no module named foo" in host.failures["broken"].error
    assert "synthetic-scenes" in host.registry.step_names()  # the rest still works


def test_recipe_local_plugin_file(write_recipe, host, tmp_path):
    (tmp_path / "myplugin.py").write_text(
        textwrap.dedent(
            """
            from artforge.api import hookimpl, Params, StepType

            class P(Params):
                level: int = 2

            @hookimpl
            def register_steps(register):
                register(StepType("local-step", P, lambda ctx, p: {}, (), "from a file"))
            """
        )
    )
    path = write_recipe(
        "name: t\nplugins: [myplugin.py]\nsteps:\n  - {id: a, uses: local-step, with: {level: 3}}\n"
    )
    rec = load_recipe(path, host)
    assert rec.steps[0].type.plugin == "recipe_plugin_myplugin" and rec.steps[0].params.level == 3


def test_recipe_plugin_missing_file(write_recipe, host):
    from artforge.errors import RecipeError

    path = write_recipe("name: t\nplugins: [nothere.py]\nsteps:\n  - {id: a, uses: collage}\n")
    with pytest.raises(
        RecipeError, match=r"recipe.yaml:2:\d+: plugins\[0\]: plugin file not found"
    ):
        load_recipe(path, host)


def test_misspelt_hook_is_an_error(host):
    class Bad:
        @hookimpl
        def register_step(self, register):  # missing "s"
            pass

    with pytest.raises(PluginError, match="register_step") as info:
        host.add_module(Bad(), name="bad", source="test")
    assert "did you mean 'register_steps'?" in str(info.value)


def test_hook_argument_that_does_not_exist(host):
    class Bad:
        @hookimpl
        def register_steps(self, register, colour):
            pass

    with pytest.raises(PluginError, match="colour"):
        host.add_module(Bad(), name="bad2", source="test")


def test_duplicate_step_names_both_plugins(host):
    from artforge.default_plugins.builtin_steps import CollageParams
    from artforge.registry import StepType

    class Dup:
        @hookimpl
        def register_steps(self, register):
            register(StepType("collage", CollageParams, lambda c, p: {}, ("sheets",)))

    host.add_module(Dup(), name="dup", source="test")
    with pytest.raises(
        PluginError, match="registered twice: by plugin 'builtin_steps' and by plugin 'dup'"
    ):
        host.registry  # noqa: B018


def test_incompatible_plugin_version(host):
    class Old:
        ARTFORGE_REQUIRES = "<0.0.1"

    with pytest.raises(PluginError, match="supports artforge <0.0.1"):
        host.add_module(Old(), name="old", source="test")


def test_registration_does_not_import_frameworks():
    import subprocess

    code = (
        "import sys; from artforge.plugins import PluginHost; h = PluginHost(); h.registry; "
        "print([m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_trace_plugins(monkeypatch, capsys):
    monkeypatch.setenv("ARTFORGE_TRACE_PLUGINS", "1")
    host = PluginHost(load_installed=False)
    host.registry  # noqa: B018
    assert "register_steps -> plugin 'builtin_steps'" in capsys.readouterr().err
