"""One test per hook (test_hook_<name>): a throwaway plugin implements the hook, and the
test checks artforge calls it and uses what it gives, end to end where there is an end.
tests/plugins/test_docs.py fails when a hook in artforge.hookspecs has no test here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from artforge import cli
from artforge.api import (
    Backend,
    BackendUnavailable,
    InputRef,
    Params,
    StepError,
    StepType,
    hookimpl,
    run_recipe,
)
from artforge.plugins import PluginHost

SCENES = "  - {id: scenes, uses: synthetic-scenes, with: {count: 2, holdout: 0, size: 32}}\n"


class DoubleParams(Params):
    images: InputRef
    gain: float = 2.0


def double(ctx, p):
    src = ctx.images(p.images)
    out = ctx.image_writer("images")
    for i, name in enumerate(src.names):
        out.add(np.clip(src.load(i).astype(np.float32) * p.gain, 0, 255).astype(np.uint8), name)
    ctx.metrics["gain"] = p.gain
    return {"images": out.finish()}


class NoParams(Params):
    pass


@pytest.fixture
def cli_host(monkeypatch):
    """Make the artforge CLI use a given host; restore its commands afterwards."""
    monkeypatch.setattr(cli.cli, "commands", dict(cli.cli.commands))
    monkeypatch.setattr(cli, "_PLUGIN_COMMANDS", {})

    def use(host: PluginHost) -> None:
        monkeypatch.setattr(cli, "_HOST", [host])

    return use


def test_hook_register_steps(tmp_path):
    class Steps:
        @hookimpl
        def register_steps(self, register):
            register(StepType("double", DoubleParams, double, ("images",), "brighter"))

    recipe = (
        "name: t\nsteps:\n" + SCENES + "  - {id: d, uses: double, "
        "with: {images: '${scenes.day}', gain: 1.5}}\ngallery: {enabled: false}\n"
    )
    result = run_recipe(recipe, tmp_path, plugins=[Steps()], load_installed=False)
    src, out = result.images("scenes", "day"), result.images("d")
    assert out.names == src.names
    expected = np.clip(src.load(1).astype(np.float32) * 1.5, 0, 255).astype(np.uint8)
    assert np.array_equal(out.load(1), expected)
    record = result.record("d")
    assert record["plugin"] == "Steps" and record["params"]["gain"] == 1.5
    assert record["metrics"] == {"gain": 1.5}


def test_hook_register_backends(tmp_path):
    ran = []

    class FakeBackend:
        @hookimpl
        def register_backends(self, register):
            register(
                Backend(
                    "fakenn",
                    requires=("artforge_no_such_framework",),
                    install="pip install fakenn",
                    description="a framework that is not installed",
                )
            )

        @hookimpl
        def register_steps(self, register):
            register(StepType("noise", NoParams, lambda c, p: ran.append(1), (), backend="fakenn"))

    host = PluginHost(load_installed=False)
    host.add_module(FakeBackend(), name="fake", source="test")
    backend = host.registry.backends["fakenn"]
    assert backend.plugin == "fake" and backend.missing() == ["artforge_no_such_framework"]
    assert host.registry.find_step("noise", "fakenn").backend == "fakenn"
    recipe = "name: t\nbackend: fakenn\nsteps:\n  - {id: n, uses: noise}\n"
    with pytest.raises(BackendUnavailable, match="needs the fakenn backend") as info:
        run_recipe(recipe, tmp_path, plugins=[FakeBackend()], load_installed=False)
    assert info.value.hint == "install it with: pip install fakenn"
    assert ran == []  # checked before the step runs


def test_hook_register_models():
    def toy_generator(nz=4, image_size=8):
        return ("toy", nz, image_size)

    class Models:
        @hookimpl
        def register_models(self, register):
            register("generator", "toy", toy_generator, backend="torch", description="a toy")
            register("generator", "lazy", "artforge_no_such_module:Net", backend="torch")

    host = PluginHost(load_installed=False)
    host.add_module(Models(), name="models", source="test")
    reg = host.registry
    comp = reg.component("generator", "toy", "torch")
    assert comp.plugin == "models" and comp.description == "a toy"
    assert comp.load()(nz=3) == ("toy", 3, 8)
    assert [c.name for c in reg.components_of("generator", "torch")] == ["lazy", "toy"]
    with pytest.raises(ModuleNotFoundError):  # a string factory is imported only when used
        reg.component("generator", "lazy", "torch").load()
    assert host.infos["models"].registers == {"generators": ["toy [torch]", "lazy [torch]"]}


def test_hook_register_trainers(cli_host, capsys):
    class Trainer:
        def __init__(self, ctx, params):
            self.ctx, self.params = ctx, params

    class Trainers:
        @hookimpl
        def register_trainers(self, register):
            register("wgan-gp", Trainer, backend="torch", description="WGAN with penalty")

    host = PluginHost(load_installed=False)
    host.add_module(Trainers(), name="trainers", source="test")
    assert host.registry.component("trainer", "wgan-gp", "torch").load() is Trainer
    cli_host(host)
    assert cli.main(["plugins", "--json"]) == 0
    rows = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert rows["trainers"]["hooks"] == ["register_trainers"]
    assert rows["trainers"]["registers"] == {"trainers": ["wgan-gp [torch]"]}


def test_hook_register_style_optimisers():
    def histogram(**options):
        return {"method": "histogram", **options}

    class Optimisers:
        @hookimpl
        def register_style_optimisers(self, register):
            register("histogram", histogram, description="colour histograms")

    host = PluginHost(load_installed=False)
    host.add_module(Optimisers(), name="opt", source="test")
    comp = host.registry.component("style-optimiser", "histogram", "torch")  # any backend
    assert comp.plugin == "opt" and comp.backend is None
    assert comp.load()(bins=16) == {"method": "histogram", "bins": 16}
    assert host.infos["opt"].registers == {"style-optimisers": ["histogram"]}


def test_hook_register_commands(cli_host, capsys):
    import click

    class Commands:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("hello")
            @click.option("--name", default="world")
            def hello(name):
                """Say hello."""
                click.echo(f"hello {name}")

            @cli.command("broken-input")
            def broken_input():
                """Fail like a user error."""
                raise StepError("this input is unusable", hint="use another one")

    host = PluginHost(load_installed=False)
    host.add_module(Commands(), name="greeter", source="test")
    cli_host(host)
    assert cli.main(["hello", "--name", "plugins"]) == 0
    assert capsys.readouterr().out == "hello plugins\n"
    assert cli.main(["--help"]) == 0
    assert "Say hello." in capsys.readouterr().out
    assert cli.main(["broken-input"]) == 2  # artforge errors from plugin commands: exit 2
    assert "error: this input is unusable\n  hint: use another one" in capsys.readouterr().err


def test_hook_run_finished(tmp_path):
    calls = []

    class Notify:
        @hookimpl
        def run_finished(self, run_dir, manifest):
            calls.append(
                (
                    run_dir,
                    manifest["status"],
                    [(s["id"], s["status"]) for s in manifest["steps"]],
                    (run_dir / "index.html").is_file(),  # the gallery is already written
                )
            )

    recipe = "name: t\nsteps:\n" + SCENES
    result = run_recipe(recipe, tmp_path / "run", plugins=[Notify()], load_installed=False)
    assert calls == [(result.run_dir, "ok", [("scenes", "ran")], True)]
    run_recipe(recipe, tmp_path / "run", plugins=[Notify()], load_installed=False)
    assert calls[-1][2] == [("scenes", "reused")]

    class Fails:
        @hookimpl
        def register_steps(self, register):
            register(StepType("fail", NoParams, _fail, ()))

    failing = "name: t\nsteps:\n  - {id: f, uses: fail}\n"
    with pytest.raises(StepError):
        run_recipe(failing, tmp_path / "bad", plugins=[Notify(), Fails()], load_installed=False)
    assert len(calls) == 2  # not called after a failed run


def _fail(ctx, p):
    raise StepError("no")
