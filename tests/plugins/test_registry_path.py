"""One registry path: built-in and plugin components go through the same hooks and lookups.

The test plugin here registers, for the torch backend, a generator ``channel-swap`` (a 1x1
convolution that permutes the colour channels, rebuilt by the backend's default loader), a
noise generator ``flat`` (every sample the same colour) and two function trainers that
export them; ``translate`` and ``sample`` must use them exactly as they use the built-in
U-Net and DCGAN generators. The trainers have typed ``Options`` and a ``version``.
"""

from __future__ import annotations

import importlib.util
import types

import numpy as np
import pytest
from pydantic import field_validator

from artforge.api import Options, PluginError, RecipeError, run_recipe
from artforge.components import backend_hooks
from artforge.plugins import PluginHost

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="needs the torch backend"
)


def channel_swap(order=(2, 1, 0)):
    """A torch 1x1 convolution that puts input channel ``order[c]`` in output channel c."""
    import torch

    net = torch.nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        net.weight.zero_()
        for c, src in enumerate(order):
            net.weight[c, src] = 1.0
    return net


def flat(nz=4, image_size=16, level=0.5):
    """z (N, nz) -> images (N, 3, S, S), all ``level`` whatever z (a noise generator)."""
    import torch

    class Flat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.level = torch.nn.Parameter(torch.tensor(float(level)))
            self.nz, self.image_size = nz, image_size

        def forward(self, z):
            return self.level * torch.ones(len(z), 3, image_size, image_size, device=z.device)

    return Flat()


class SwapOptions(Options):
    order: list[int] = [2, 1, 0]
    scale: float = 1.0

    @field_validator("order")
    @classmethod
    def _permutation(cls, v: list[int]) -> list[int]:
        if sorted(v) != [0, 1, 2]:
            raise ValueError("order must be a permutation of 0, 1, 2")
        return v


def _save(ctx, net, meta):
    from safetensors.torch import save_file

    art = ctx.model_artifact("generator", "generator.safetensors")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(art.path))
    art.meta.update(backend="torch", **meta)
    return {"generator": art}


def train_swap(ctx, p):
    """A 'trainer' that exports the channel swap its options ask for (no training)."""
    ctx.metrics["order"] = list(p.options["order"])
    kwargs = {"order": list(p.options["order"])}
    net = ctx.component("generator", "channel-swap")(**kwargs)
    return _save(ctx, net, {"arch": "channel-swap", "model": p.model, "kwargs": kwargs})


def train_flat(ctx, p):
    kwargs = {"nz": 4, "image_size": p.image_size, "level": 0.5}
    net = ctx.component("generator", "flat")(**kwargs)
    meta = {"arch": "flat", "model": p.model, "kwargs": kwargs, "nz": 4, "n_classes": 0}
    return _save(ctx, net, {**meta, "image_size": p.image_size})


def _plugin(version: str = "1") -> object:
    """The test plugin; ``version`` is the swap trainer's (changed by a test)."""
    from artforge.hookspecs import hookimpl

    @hookimpl
    def register_models(register):
        register("generator", "channel-swap", channel_swap, backend="torch")
        register("generator", "flat", flat, backend="torch")

    @hookimpl
    def register_trainers(register):
        register(
            "swapper", train_swap, backend="torch", data="paired", options=SwapOptions,
            version=version,
        )  # fmt: skip
        register("flat-gan", train_flat, backend="torch", data="images")

    return types.SimpleNamespace(
        register_models=register_models, register_trainers=register_trainers
    )


RECIPE = """\
name: regpath
backend: torch
device: cpu
seed: 3
steps:
  - {id: scenes, uses: synthetic-scenes, with: {count: 3, holdout: 0, size: 32}}
  - id: train
    uses: train-gan
    with:
      model: swapper
      source: ${scenes.night}
      target: ${scenes.day}
      image_size: 32
      options: {order: [2, 0, 1]}
  - id: day
    uses: translate
    with: {model: '${train.generator}', images: '${scenes.night}'}
  - id: noise
    uses: train-gan
    with: {model: flat-gan, data: '${scenes.day}', image_size: 16}
  - id: draw
    uses: sample
    with: {model: '${noise.generator}', n: 4, walk_points: 2, walk_frames: 1}
gallery: {enabled: false}
"""


@needs_torch
def test_translate_and_sample_use_generators_a_plugin_registered(tmp_path):
    result = run_recipe(RECIPE, tmp_path / "run", plugins=[_plugin()])
    assert set(result.status.values()) == {"ran"}
    night, day = result.images("scenes", "night"), result.images("day")
    assert day.names == night.names
    for i in range(len(night)):  # output channel c is input channel order[c]
        want = night.load(i)[..., [2, 0, 1]].astype(int)
        assert np.abs(day.load(i).astype(int) - want).max() <= 1
    # the trainer's options were validated and filled in: the defaults are in the record
    params = result.record("train")["params"]
    assert params["options"] == {"order": [2, 0, 1], "scale": 1.0}
    assert "trainer_version" not in params  # version "1": the key is as it always was
    drawn = result.images("draw")
    assert len(drawn) == 4
    for i in range(len(drawn)):  # flat: level 0.5 -> (0.5 + 1) * 127.5
        assert np.abs(drawn.load(i).astype(int) - 191).max() <= 1


@needs_torch
def test_a_components_version_enters_the_cache_key(tmp_path):
    text = RECIPE.split("  - id: noise")[0] + "gallery: {enabled: false}\n"
    out = tmp_path / "run"
    first = run_recipe(text, out, plugins=[_plugin("1")], load_installed=True)
    assert first.status == {"scenes": "ran", "train": "ran", "day": "ran"}
    again = run_recipe(text, out, plugins=[_plugin("1")])
    assert set(again.status.values()) == {"reused"}
    bumped = run_recipe(text, out, plugins=[_plugin("2")])
    # a fixed bug in the trainer (version 2) never serves the stale result, nor what used it
    assert bumped.status == {"scenes": "reused", "train": "ran", "day": "ran"}
    assert bumped.record("train")["params"]["trainer_version"] == "2"


def _load(text: str, tmp_path):
    from artforge.recipe import load_recipe

    host = PluginHost()
    host.add_module(_plugin(), name="registry-test", source="test")
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return load_recipe(path, host), path


def test_options_are_checked_when_the_recipe_loads_with_file_line_and_did_you_mean(tmp_path):
    with pytest.raises(RecipeError) as err:
        _load(RECIPE.replace("{order: [2, 0, 1]}", "{ordr: [2, 0, 1]}"), tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'recipe.yaml'}:14:" in msg and "steps[1].with.options" in msg
    assert "unknown option 'ordr' of trainer 'swapper' (plugin registry-test)" in msg
    assert "did you mean 'order'?" in msg and err.value.hint == "its options: order, scale"

    with pytest.raises(RecipeError) as err:
        _load(RECIPE.replace("{order: [2, 0, 1]}", "{order: [2, 2, 1]}"), tmp_path)
    assert "order must be a permutation of 0, 1, 2" in str(err.value)
    assert f"{tmp_path / 'recipe.yaml'}:14:" in str(err.value)

    recipe, _ = _load(RECIPE, tmp_path)
    train = next(s for s in recipe.steps if s.id == "train")
    assert train.params.options == {"order": [2, 0, 1], "scale": 1.0}


def test_registration_checks_options_version_and_loader():
    from artforge.hookspecs import hookimpl

    for kw, words in (
        ({"options": dict}, "options=<class 'dict'>, which is not a pydantic model"),
        ({"version": 2}, "version=2; a version is a string"),
        ({"loader": "x:load"}, "only generators take one"),
    ):

        @hookimpl
        def register_trainers(register, kw=kw):
            register("t", "x:Y", backend="torch", data="images", **kw)

        host = PluginHost(load_installed=False)
        plugin = types.SimpleNamespace(register_trainers=register_trainers)
        host.add_module(plugin, name="bad", source="test")
        with pytest.raises(PluginError) as err:
            host.registry  # noqa: B018
        assert words in str(err.value)


def test_backend_hooks_register_a_backends_feature_lists(plugin_module):
    from artforge.api import Backend, StepType
    from artforge.params import Params

    features = plugin_module(
        """
        from artforge.api import Component
        MODELS = [
            Component("generator", "g1", "m:G", description="as a Component"),
            ("discriminator", "d1", "m:D", "as a tuple"),
        ]
        TRAINERS = [
            Component("trainer", "t1", "m:T", data="paired", version="3", backend="other"),
            ("t2", "m:T2", "a tuple with data", "images"),
            ("t3", "m:T3", "a tuple without"),
        ]
        STYLE_OPTIMISERS = [("s1", "m:S", "an optimiser")]
        """,
        name="fake_features",
    )

    class P(Params):
        pass

    features.STEPS = [StepType(name="fake-step", params=P, run=lambda c, p: {}, backend="fake")]
    hooks = backend_hooks(Backend(name="fake"), ("fake_features", "no_such_features_module"))
    assert sorted(hooks) == [
        "register_backends",
        "register_models",
        "register_steps",
        "register_style_optimisers",
        "register_trainers",
    ]
    host = PluginHost(load_installed=False)
    host.add_module(types.SimpleNamespace(**hooks), name="fake", source="test")
    reg = host.registry
    assert "fake" in reg.backends and ("fake-step", "fake") in reg.steps
    g1 = reg.component("generator", "g1", "fake")
    assert (g1.backend, g1.description, g1.plugin) == ("fake", "as a Component", "fake")
    assert reg.component("discriminator", "d1", "fake").factory == "m:D"
    t1 = reg.component("trainer", "t1", "other")  # a Component's own backend is kept
    assert (t1.data, t1.version) == ("paired", "3")
    assert reg.component("trainer", "t2", "fake").data == "images"
    assert reg.component("trainer", "t3", "fake").data is None
    assert reg.component("style-optimiser", "s1", "fake").factory == "m:S"


@needs_torch
def test_built_in_gan_models_are_registered_components_with_no_private_tables():
    """train-gan, translate and sample find the built-ins in the registry, as a plugin's."""
    import artforge_keras.gan_steps as kg
    import artforge_torch.gan_steps as tg

    reg = PluginHost().registry
    for backend in ("torch", "keras"):
        for model, data in (
            ("pix2pix", "paired"),
            ("cyclegan", "unpaired"),
            ("dcgan", "images"),
            ("cdcgan", "images"),
        ):
            assert reg.component("trainer", model, backend).data == data
        for arch in ("unet", "resnet", "dcgan"):
            assert reg.component("generator", arch, backend).plugin == backend
        assert reg.component("generator", "resnet", backend).loader.endswith(":build_resnet")
    for mod in (tg, kg):
        assert not hasattr(mod, "TRAINERS") and not hasattr(mod, "ARCHS")


def test_train_gan_keys_the_chosen_model_does_not_read_are_refused_at_their_line(tmp_path):
    base = (
        "name: keys\nbackend: torch\nsteps:\n"
        "  - {id: scenes, uses: synthetic-scenes, with: {count: 2, holdout: 0, size: 32}}\n"
        "  - id: train\n    uses: train-gan\n    with:\n      model: pix2pix\n"
        "      source: ${scenes.night}\n      target: ${scenes.day}\n"
        "      image_size: 32\n      lambda_l1: 50\n"
    )
    recipe, _ = _load(base, tmp_path)  # pix2pix reads lambda_l1
    assert recipe.steps[1].params.lambda_l1 == 50
    for key, value, users in (
        ("lambda_cycle", 5, "cyclegan"),
        ("nz", 64, "dcgan and cdcgan"),
        ("pool_size", 10, "cyclegan"),
    ):
        with pytest.raises(RecipeError) as err:
            _load(base + f"      {key}: {value}\n", tmp_path)
        msg = str(err.value)
        assert f"{tmp_path / 'recipe.yaml'}:13:" in msg and f"steps[1].with.{key}" in msg
        assert f"{key} is a setting of {users}; pix2pix does not use it" in msg
    # the default value written out is harmless, and cyclegan takes its own keys
    _load(base + "      n_critic: 1\n", tmp_path)
    _load(base.replace("pix2pix", "cyclegan").replace("lambda_l1: 50", "lambda_cycle: 5"), tmp_path)
