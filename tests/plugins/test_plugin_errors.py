"""The mistakes a plugin author makes, and the message each one gets.

Every error names the plugin (and the step, where there is one); user-facing ones exit with
status 2 through the CLI, plugin crashes with status 1. Throwaway plugins only: no torch.
"""

from __future__ import annotations

import importlib
import json
import sys

import pluggy
import pytest
from pydantic import BaseModel

from artforge import cli
from artforge.api import (
    Params,
    PluginError,
    StepError,
    StepType,
    hookimpl,
    run_recipe,
)
from artforge.plugins import PluginHost
from artforge.runner import StepCrashed


class NoParams(Params):
    pass


def ok_step(ctx, p):
    out = ctx.image_writer("images")
    out.add(__import__("numpy").zeros((4, 4, 3), "uint8"), name="a")
    return {"images": out.finish()}


def steps_plugin(*step_types):
    class Plugin:
        @hookimpl
        def register_steps(self, register):
            for st in step_types:
                register(st)

    return Plugin()


def build(host, plugin, name="p"):
    host.add_module(plugin, name=name, source="test")
    return host.registry


@pytest.fixture
def cli_host(monkeypatch):
    monkeypatch.setattr(cli.cli, "commands", dict(cli.cli.commands))
    monkeypatch.setattr(cli, "_PLUGIN_COMMANDS", {})

    def use(host):
        monkeypatch.setattr(cli, "_HOST", [host])

    return use


# -- hook implementations -------------------------------------------------------------------
def test_misspelt_hook_names_the_plugin_and_suggests_the_hook(host):
    class Bad:
        @hookimpl
        def register_step(self, register):
            pass

    with pytest.raises(PluginError) as info:
        host.add_module(Bad(), name="typo", source="test")
    assert (
        info.value.message
        == "plugin 'typo' implements 'register_step', which is not an artforge hook"
    )
    assert info.value.hint == "did you mean 'register_steps'?"
    assert "typo" not in host.infos and host.pm.get_plugin("typo") is None


def test_unknown_hook_without_a_close_match_lists_the_hooks(host):
    class Bad:
        @hookimpl
        def on_startup(self):
            pass

    with pytest.raises(PluginError, match="'on_startup', which is not an artforge hook") as info:
        host.add_module(Bad(), name="bad", source="test")
    assert info.value.hint.startswith("artforge hooks: ") and "run_finished" in info.value.hint


@pytest.mark.parametrize("args", ["reg", "register, colour"])
def test_argument_the_hook_does_not_provide(host, plugin_module, args):
    module = plugin_module(
        f"""
        from artforge.api import hookimpl

        @hookimpl
        def register_steps({args}):
            pass
        """
    )
    bad = args.split(", ")[-1]
    with pytest.raises(PluginError) as info:
        host.add_module(module, name="args", source="test")
    assert info.value.message == (
        f"plugin 'args': register_steps() asks for an argument '{bad}' that hook "
        "register_steps does not provide; register_steps provides: register"
    )
    assert info.value.hint == "arguments are passed by name: def register_steps(register)"


def test_a_subset_of_the_arguments_is_fine(host, tmp_path):
    seen = []

    class Partial:
        @hookimpl
        def run_finished(self, manifest):  # run_dir left out
            seen.append(manifest["status"])

    host.add_module(Partial(), name="partial", source="test")
    host.call("run_finished", run_dir=tmp_path, manifest={"status": "ok"})
    assert seen == ["ok"]


def test_hook_function_without_the_marker(host, plugin_module):
    module = plugin_module(
        """
        def register_steps(register):
            raise AssertionError("never called")
        """
    )
    with pytest.raises(PluginError) as info:
        host.add_module(module, name="unmarked", source="test")
    assert info.value.message == (
        "plugin 'unmarked' defines register_steps() but it is not marked as a hook "
        "implementation, so artforge would ignore it"
    )
    assert "@hookimpl" in info.value.hint


def test_hook_marked_for_another_project(host):
    other = pluggy.HookimplMarker("datasette")

    class Confused:
        @other
        def register_steps(self, register):
            pass

    with pytest.raises(PluginError, match=r"\(it is marked for 'datasette', not artforge\)"):
        host.add_module(Confused(), name="confused", source="test")


def test_hook_that_returns_its_steps(host):
    class Returns:
        @hookimpl
        def register_steps(self, register):
            return [StepType("x", NoParams, ok_step, ("images",))]

    host.add_module(Returns(), name="returns", source="test")
    with pytest.raises(PluginError) as info:
        host.registry  # noqa: B018
    assert info.value.message == (
        "plugin 'returns': hook register_steps returned a list; hooks return nothing"
    )
    assert "call register(...) once per item" in info.value.hint


def test_exception_in_a_hook_names_plugin_and_hook(host):
    class Wrong:
        @hookimpl
        def register_models(self, register):
            register("generator", "g")  # the factory is missing

    host.add_module(Wrong(), name="wrong", source="test")
    with pytest.raises(
        PluginError, match=r"^plugin 'wrong' failed in hook register_models: TypeError"
    ):
        host.registry  # noqa: B018


def test_exception_in_run_finished_names_plugin_and_hook(host, tmp_path):
    class Crash:
        @hookimpl
        def run_finished(self, run_dir, manifest):
            raise KeyError("steps")

    host.add_module(Crash(), name="crash", source="test")
    with pytest.raises(PluginError, match="plugin 'crash' failed in hook run_finished: KeyError"):
        host.call("run_finished", run_dir=tmp_path, manifest={})


# -- registrations ---------------------------------------------------------------------------
def test_step_type_registered_twice_names_both_plugins(host, cli_host, capsys):
    first = steps_plugin(StepType("glow", NoParams, ok_step, ("images",)))
    second = steps_plugin(StepType("glow", NoParams, ok_step, ("images",)))
    host.add_module(first, name="first", source="test")
    host.add_module(second, name="second", source="test")
    with pytest.raises(PluginError) as info:
        host.registry  # noqa: B018
    assert info.value.message == (
        "step type 'glow' is registered twice: by plugin 'first' and by plugin 'second'"
    )
    assert "ARTFORGE_PLUGINS" in info.value.hint
    cli_host(host)
    assert cli.main(["steps"]) == 2
    assert "by plugin 'first' and by plugin 'second'" in capsys.readouterr().err


def test_same_step_name_for_two_backends_is_fine(host):
    reg = build(
        host,
        steps_plugin(
            StepType("glow", NoParams, ok_step, ("images",), backend="torch"),
            StepType("glow", NoParams, ok_step, ("images",), backend="keras"),
        ),
    )
    assert reg.backends_of("glow") == ["keras", "torch"]


def test_built_in_step_name_taken_again(host):
    host.add_module(steps_plugin(StepType("collage", NoParams, ok_step)), name="mine", source="t")
    with pytest.raises(PluginError, match="by plugin 'builtin_steps' and by plugin 'mine'"):
        host.registry  # noqa: B018


def test_model_and_backend_registered_twice_name_both_plugins(host):
    from artforge.api import Backend

    class A:
        @hookimpl
        def register_models(self, register):
            register("generator", "cppn", lambda: None, backend="torch")

        @hookimpl
        def register_backends(self, register):
            register(Backend("jax"))

    host.add_module(A(), name="a", source="test")
    host.add_module(A(), name="b", source="test")
    with pytest.raises(
        PluginError, match="backend 'jax' is registered twice: by plugin 'a' and by plugin 'b'"
    ):
        host.registry  # noqa: B018
    host.unregister("b")

    class B:
        @hookimpl
        def register_models(self, register):
            register("generator", "cppn", lambda: None, backend="torch")

    host.add_module(B(), name="b", source="test")
    with pytest.raises(
        PluginError,
        match=r"generator 'cppn' \(backend torch\) is registered twice: by plugin 'a' and by plugin 'b'",
    ):
        host.registry  # noqa: B018


class Loose(BaseModel):  # accepts unknown keys
    size: int = 3


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            StepType("s", dict, ok_step),
            "plugin 'p': step 's' has an invalid parameter schema <class 'dict'>: it must be a "
            "subclass of artforge.api.Params",
        ),
        (
            StepType("s", Loose, ok_step),
            "plugin 'p': step 's': its parameter schema Loose accepts unknown keys, so a "
            "misspelt parameter in a recipe would be silently ignored",
        ),
        (
            StepType("s", NoParams, ok_step, "images"),
            "plugin 'p': step 's': outputs must be a tuple of output names, got 'images'",
        ),
        (
            StepType("s", NoParams, "my_plugin.run"),
            "plugin 'p': step 's': run='my_plugin.run' is not 'package.module:function'",
        ),
        (
            StepType("s", NoParams, 42),
            "plugin 'p': step 's': run must be a function run(ctx, params), got 42",
        ),
        (
            StepType("bad name!", NoParams, ok_step),
            "plugin 'p': invalid step type name 'bad name!'",
        ),
        (
            {"name": "s"},
            "plugin 'p' registered {'name': 's'}, which is not an artforge StepType",
        ),
    ],
    ids=["not-a-model", "extra-keys", "outputs-str", "run-string", "run-int", "name", "dict"],
)
def test_invalid_step_types(host, step, message):
    with pytest.raises(PluginError) as info:
        build(host, steps_plugin(step))
    assert info.value.message == message


def test_invalid_step_type_through_the_cli_is_one_line_and_status_2(host, cli_host, capsys):
    host.add_module(steps_plugin(StepType("s", Loose, ok_step)), name="loose", source="test")
    cli_host(host)
    assert cli.main(["steps"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'loose': step 's': its parameter schema Loose")
    assert "Traceback" not in err


# -- steps that fail ------------------------------------------------------------------------
def crashing_step(ctx, p):
    out = ctx.image_writer("images")
    out.add(__import__("numpy").zeros((4, 4, 3), "uint8"), name="partial")  # half-written
    return {"images": 1 / 0}


RECIPE = """name: crash
steps:
  - {id: a, uses: good}
  - {id: b, uses: flaky}
  - {id: c, uses: good2}
gallery: {enabled: false}
"""


def test_step_that_raises_names_plugin_and_step_and_keeps_the_run_consistent(tmp_path):
    broken = steps_plugin(
        StepType("good", NoParams, ok_step, ("images",)),
        StepType("flaky", NoParams, crashing_step, ("images",)),
        StepType("good2", NoParams, ok_step, ("images",)),
    )
    run = tmp_path / "run"
    with pytest.raises(StepCrashed) as info:
        run_recipe(RECIPE, run, plugins=[broken], load_installed=False)
    assert info.value.message == (
        "step 'b' (flaky, plugin 'Plugin') crashed: ZeroDivisionError: division by zero"
    )
    assert info.value.exit_code == 1 and "bug in the plugin" in info.value.hint
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert [(s["id"], s["status"]) for s in manifest["steps"]] == [
        ("a", "ran"),
        ("b", "failed"),
        ("c", "pending"),
    ]
    assert "ZeroDivisionError" in manifest["steps"][1]["error"]
    assert (run / "steps" / "a" / "record.json").is_file()  # finished steps are kept
    assert not (run / "steps" / "b").exists()  # nothing half-written is published
    assert not (run / ".staging").exists()

    fixed = steps_plugin(
        StepType("good", NoParams, ok_step, ("images",)),
        StepType("flaky", NoParams, ok_step, ("images",)),
        StepType("good2", NoParams, ok_step, ("images",)),
    )
    result = run_recipe(RECIPE, run, plugins=[fixed], load_installed=False)
    assert result.status == {"a": "reused", "b": "ran", "c": "ran"}


def test_step_crash_through_the_cli_exits_1_with_one_message(tmp_path, cli_host, capsys):
    host = PluginHost(load_installed=False)
    host.add_module(
        steps_plugin(StepType("flaky", NoParams, crashing_step, ("images",))),
        name="flakyplug",
        source="test",
    )
    cli_host(host)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nsteps:\n  - {id: b, uses: flaky}\n")
    assert cli.main(["run", str(recipe), "--out", str(tmp_path / "run"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "error: step 'b' (flaky, plugin 'flakyplug') crashed: ZeroDivisionError" in err
    assert "Traceback" not in err


def test_step_error_is_a_user_error_with_status_2(tmp_path, cli_host, capsys):
    def refuses(ctx, p):
        raise StepError("the input has no faces", hint="use portraits")

    host = PluginHost(load_installed=False)
    host.add_module(steps_plugin(StepType("faces", NoParams, refuses)), name="f", source="test")
    cli_host(host)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nsteps:\n  - {id: b, uses: faces}\n")
    assert cli.main(["run", str(recipe), "--out", str(tmp_path / "run"), "-q"]) == 2
    assert "error: the input has no faces\n  hint: use portraits" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["steps"][0]["error"].startswith("the input has no faces")


def test_run_function_that_cannot_be_imported(tmp_path):
    plugin = steps_plugin(StepType("lazy", NoParams, "artforge_no_such_module.steps:run"))
    with pytest.raises(PluginError) as info:
        run_recipe("name: r\nsteps:\n  - {id: l, uses: lazy}\n", tmp_path, plugins=[plugin])
    assert info.value.message.startswith(
        "step 'l' (lazy, plugin 'Plugin'): cannot load its run function "
        "'artforge_no_such_module.steps:run': ModuleNotFoundError"
    )


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (lambda ctx: [1], "returned list, expected a dict of outputs"),
        (
            lambda ctx: {"images": "x.png"},
            "returned a str for output 'images', expected an artifact",
        ),
        (
            lambda ctx: {"other": ctx.image_writer("other").finish()},
            "returned undeclared outputs: other",
        ),
    ],
    ids=["not-a-dict", "not-an-artifact", "undeclared"],
)
def test_step_that_returns_the_wrong_thing(tmp_path, returned, message):
    plugin = steps_plugin(StepType("odd", NoParams, lambda ctx, p: returned(ctx), ("images",)))
    with pytest.raises(StepCrashed, match="step 'o' \\(odd, plugin 'Plugin'\\) " + message):
        run_recipe("name: r\nsteps:\n  - {id: o, uses: odd}\n", tmp_path, plugins=[plugin])


# -- versions and installed packages -----------------------------------------------------------
def test_module_declares_the_versions_it_supports(host):
    class Old:
        ARTFORGE_REQUIRES = ">=0.0.1,<0.1"

    class Current:
        ARTFORGE_REQUIRES = ">=0.1,<0.2"

    class Garbled:
        ARTFORGE_REQUIRES = "0.1 or later"

    with pytest.raises(PluginError) as info:
        host.add_module(Old(), name="old", source="test")
    assert info.value.message == (
        "plugin 'old' supports artforge >=0.0.1,<0.1, but this is artforge 0.1.0"
    )
    host.add_module(Current(), name="current", source="test")
    with pytest.raises(PluginError, match="plugin 'garbled' declares an invalid ARTFORGE_REQUIRES"):
        host.add_module(Garbled(), name="garbled", source="test")


def fake_distribution(tmp_path, dist, version, entry_name, module, requires=(), code=""):
    """A distribution faked with a dist-info folder: what pip install leaves behind."""
    (tmp_path / f"{module}.py").write_text(code or "from artforge.api import hookimpl\n")
    info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(meta)
    (info / "entry_points.txt").write_text(f"[artforge]\n{entry_name} = {module}\n")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def install(*args, **kwargs):
        fake_distribution(tmp_path, *args, **kwargs)
        made.append(args[3])
        importlib.invalidate_caches()

    yield install
    for module in made:
        sys.modules.pop(module, None)


def test_package_for_another_artforge_is_refused_before_import(installed, monkeypatch):
    installed(
        "artforge-future",
        "2.0.0",
        "future",
        "artforge_future_plug",
        requires=["numpy", "artforge>=0.2,<0.3"],
        code="raise ImportError('uses an API this artforge does not have')\n",
    )
    installed("artforge-fine", "1.0.0", "fine", "artforge_fine_plug", requires=["artforge>=0.1"])
    monkeypatch.setenv("ARTFORGE_PLUGINS", "future,fine")
    host = PluginHost()
    failure = host.failures["future"]
    assert failure.error.startswith(
        "plugin 'future' (artforge-future 2.0.0) supports artforge >=0.2,<0.3, "
        "but this is artforge 0.1.0"
    )
    assert "artforge_future_plug" not in sys.modules  # refused without importing it
    assert "fine" in host.infos and host.infos["fine"].version == "1.0.0"


def test_refused_package_is_shown_by_artforge_plugins(installed, monkeypatch, cli_host, capsys):
    installed("artforge-future", "2.0.0", "future", "artforge_future_p2", requires=["artforge<0.1"])
    monkeypatch.setenv("ARTFORGE_PLUGINS", "future")
    cli_host(PluginHost())
    assert cli.main(["plugins"]) == 0
    assert (
        "future  FAILED TO LOAD: plugin 'future' (artforge-future 2.0.0) supports artforge <0.1"
        in capsys.readouterr().out
    )


def test_two_packages_with_the_same_plugin_name(installed, monkeypatch):
    installed("artforge-glow-a", "1.0", "glow", "artforge_glow_a")
    installed("artforge-glow-b", "1.0", "glow", "artforge_glow_b")
    monkeypatch.setenv("ARTFORGE_PLUGINS", "glow")
    host = PluginHost()
    assert host.infos["glow"].module == "artforge_glow_a"
    (failure,) = host.failures.values()
    assert failure.error == (
        "plugin name 'glow' is already used by artforge-glow-a; artforge-glow-b is skipped "
        "(rename its entry point)"
    )


# -- plugin commands ---------------------------------------------------------------------------
def test_plugin_command_cannot_replace_a_built_in_one(host, cli_host, capsys):
    import click

    class Hijack:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("run")
            def run():
                click.echo("hijacked")

    class Broken:
        @hookimpl
        def register_commands(self, cli):
            raise RuntimeError("no commands today")

    host.add_module(Hijack(), name="hijack", source="test")
    host.add_module(Broken(), name="broken", source="test")
    cli_host(host)
    assert cli.main(["run", "--help"]) == 0
    out = capsys.readouterr()
    assert "Run RECIPE (a YAML file)" in out.out and "hijacked" not in out.out
    assert (
        "warning: plugin 'hijack' adds the command 'run', which artforge already has; ignored"
        in out.err
    )
    assert (
        "warning: plugin 'broken' failed in hook register_commands: RuntimeError: no commands "
        "today; its commands are skipped" in out.err
    )


# -- tracing -------------------------------------------------------------------------------------
def test_trace_shows_which_plugin_answered_which_hook(capsys):
    host = PluginHost(load_installed=False, trace=True)
    host.add_module(
        steps_plugin(StepType("glow", NoParams, ok_step, ("images",), backend="torch")),
        name="glowplug",
        source="test",
    )
    host.registry  # noqa: B018
    host.call("run_finished", run_dir=None, manifest={})
    err = capsys.readouterr().err.splitlines()
    assert "[artforge trace] loaded plugin 'glowplug' (test: Plugin)" in err
    assert (
        "[artforge trace] register_steps -> plugin 'builtin_steps': images, synthetic-scenes, "
        "collage, digits" in err
    )
    assert "[artforge trace] register_steps -> plugin 'glowplug': glow [torch]" in err


def test_trace_plugins_flag_and_environment_variable(monkeypatch, cli_host, capsys):
    monkeypatch.setenv("ARTFORGE_TRACE_PLUGINS", "0")  # restored after the test
    monkeypatch.setenv("ARTFORGE_PLUGINS", "")
    monkeypatch.setattr(cli, "_HOST", [])  # a fresh host, as in a new process
    assert cli.main(["--trace-plugins", "steps"]) == 0
    err = capsys.readouterr().err
    assert "[artforge trace] register_steps -> plugin 'builtin_steps': images" in err

    monkeypatch.setenv("ARTFORGE_TRACE_PLUGINS", "1")
    monkeypatch.setattr(cli, "_HOST", [])
    assert cli.main(["steps"]) == 0
    assert "[artforge trace] loaded plugin 'builtin_steps'" in capsys.readouterr().err

    monkeypatch.setenv("ARTFORGE_TRACE_PLUGINS", "0")
    monkeypatch.setattr(cli, "_HOST", [])
    assert cli.main(["steps"]) == 0
    assert "[artforge trace]" not in capsys.readouterr().err
