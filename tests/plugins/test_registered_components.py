"""Trainers and style optimisers a plugin registers are usable from recipes.

This module is itself the test plugin: its ``@hookimpl`` functions register

- ``pix2pix-l2`` (torch, ``data="paired"``): a pix2pix variant on the torch ``GANTrainer``,
  U-Net generator and PatchGAN discriminator (the backend's registered networks), hinge
  adversarial loss and an L2 reconstruction term ``lambda_l2 * MSE`` (the pix2pix paper's
  L2 ablation) instead of L1; it exports a ``unet`` generator that ``translate`` applies;
- ``colour-transfer`` (any backend): Reinhard et al. 2001, "Color transfer between images":
  the mean and standard deviation of each channel of the content image in the decorrelated
  l-alpha-beta space are matched to the style image's (a class ``O(ctx, params)``);
- ``histogram-match`` (torch): exact per-channel histogram specification of the content
  image to the style image (a function ``stylize(content, style, params)``).
- ``sparkle`` (torch, ``register_models``): a generator ``sample`` names with ``generator:``
  (only its load-time validation is tested here; tests/torch/test_sample.py samples one).

A recipe trains with the first, translates with its generator and stylizes with the other
two through ``run_recipe``; misspelt names, names registered only for the other backend and
broken registrations give the errors the docs promise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from artforge.api import RecipeError, hookimpl, run_recipe
from artforge.errors import PluginError, StepError
from artforge.plugins import PluginHost

try:
    import torch
    import torch.nn.functional as F

    from artforge_torch.training import GANTrainer
except ImportError:  # the validation tests below need neither torch nor the backend
    torch = None
    GANTrainer = object

needs_torch = pytest.mark.skipif(torch is None, reason="needs torch and the torch backend")
PLUGIN = sys.modules[__name__]
NAME = __name__  # the plugin's name: run_recipe names a plugin module by its module name


# -- the test plugin ---------------------------------------------------------------------------
@hookimpl
def register_trainers(register):
    register(
        "pix2pix-l2",
        f"{__name__}:Pix2PixL2Trainer",  # imported only when a recipe trains with it
        backend="torch",
        description="pix2pix with a hinge GAN loss and an L2 reconstruction term",
        data="paired",
    )


@hookimpl
def register_style_optimisers(register):
    register(
        "colour-transfer",
        f"{__name__}:ColourTransfer",
        backend=None,
        description="match the colour statistics in l-alpha-beta space (Reinhard et al. 2001)",
    )
    register(
        "histogram-match",
        f"{__name__}:match_histograms",
        backend="torch",
        description="per-channel histogram specification",
    )


@hookimpl
def register_models(register):
    register(
        "generator",
        "sparkle",
        f"{__name__}:Pix2PixL2Trainer",  # never loaded: only the name is validated here
        backend="torch",
        description="a registered generator for sample's generator: (validation only)",
    )


class Pix2PixL2Trainer(GANTrainer):
    """pix2pix (Isola et al. 2017) with hinge adversarial loss (Lim & Ye 2017; Miyato et al.
    2018) and ``lambda_l2 * ||G(a) - b||^2`` (option ``lambda_l2``, default 100)."""

    def build(self):
        p = self.p
        unet = self.ctx.component("generator", "unet")  # the torch backend's networks
        patchgan = self.ctx.component("discriminator", "patchgan")
        self.g_kwargs = {
            "in_channels": 3,
            "out_channels": 3,
            "image_size": p.image_size,
            "ngf": p.ngf,
            "norm": p.norm,
            "dropout": p.dropout,
        }
        G = unet(**self.g_kwargs)
        D = patchgan(6, ndf=p.ndf, n_layers=p.n_layers_d, norm=p.norm)
        for net in (G, D):
            for m in net.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                    torch.nn.init.normal_(m.weight, 0.0, 0.02)
        self.nets = {"G": G, "D": D}
        self.opts = {
            name: torch.optim.Adam(net.parameters(), lr=lr, betas=(p.beta1, p.beta2))
            for name, net, lr in (("G", G, p.lr_g), ("D", D, p.lr_d))
        }
        self.ema_of = "G"
        self.lambda_l2 = float(p.options.get("lambda_l2", 100.0))

    def train_step(self, batch):
        a, b = (self.to_device(t) for t in batch)
        G, D = self.compiled["G"], self.compiled["D"]
        fake = G(a)
        # discriminator: hinge loss on real and generated pairs
        self.nets["D"].requires_grad_(True)
        self.opts["D"].zero_grad(set_to_none=True)
        loss_d = (
            F.relu(1.0 - D(torch.cat([a, b], 1))).mean()
            + F.relu(1.0 + D(torch.cat([a, fake.detach()], 1))).mean()
        )
        loss_d.backward()
        self.opts["D"].step()
        # generator: raise D's score of its pairs, stay close to the target in L2
        self.nets["D"].requires_grad_(False)
        self.opts["G"].zero_grad(set_to_none=True)
        loss_gan = -D(torch.cat([a, fake], 1)).mean()
        loss_l2 = F.mse_loss(fake, b)
        loss_g = loss_gan + self.lambda_l2 * loss_l2
        loss_g.backward()
        self.opts["G"].step()
        return {
            "loss_D": loss_d.item(),
            "loss_G": loss_g.item(),
            "loss_G_GAN": loss_gan.item(),
            "loss_L2": loss_l2.item(),
        }

    def generator(self):
        return self.ema.shadow if self.ema else self.nets["G"]

    def sample_grid(self):
        from artforge_torch.data import to_uint8_images

        a, b = self.data.fixed(4)
        fake = self.generator()(self.to_device(a))
        rows = zip(to_uint8_images(a), to_uint8_images(fake), to_uint8_images(b))
        return np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)

    def export(self, ctx):
        from artforge_torch.training.checkpoint import export_safetensors

        art = ctx.model_artifact("generator", "generator.safetensors")
        G = self.generator()
        export_safetensors(art.path, G, {"arch": "unet", "model": self.p.model})
        # what `translate` needs to rebuild the generator
        art.meta.update(
            backend="torch",
            model=self.p.model,
            arch="unet",
            kwargs=self.g_kwargs,
            image_size=self.p.image_size,
            multiple=G.multiple,
            lambda_l2=self.lambda_l2,
        )
        return {"generator": art}


# Reinhard et al. 2001: RGB -> LMS -> log10 -> l-alpha-beta (Ruderman et al. 1998)
RGB2LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
LOG2LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array(
    [[1, 1, 1], [1, 1, -2], [1, -1, 0]]
)


def to_lab(img: np.ndarray) -> np.ndarray:
    rgb = np.asarray(img, np.float64)[..., :3] / 255.0
    lms = np.clip(rgb @ RGB2LMS.T, 1e-4, None)
    return np.log10(lms) @ LOG2LAB.T


def from_lab(lab: np.ndarray) -> np.ndarray:
    lms = 10.0 ** (lab @ np.linalg.inv(LOG2LAB).T)
    return np.clip(lms @ np.linalg.inv(RGB2LMS).T, 0.0, 1.0)


class ColourTransfer:
    """Reinhard colour transfer; option ``strength`` (0: the content, 1: full transfer)."""

    def __init__(self, ctx, params):
        self.strength = float(params.options.get("strength", 1.0))
        if not 0.0 <= self.strength <= 1.0:
            raise StepError(f"step '{ctx.step_id}': strength must be in [0, 1]")
        self.style_stats = None

    def fit(self, style, images):  # once, before the first image
        lab = to_lab(style).reshape(-1, 3)
        self.style_stats = lab.mean(0), lab.std(0)

    def stylize(self, content, style):
        lab = to_lab(content)
        mean, std = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0)
        s_mean, s_std = self.style_stats
        moved = (lab - mean) * (s_std / np.maximum(std, 1e-6)) + s_mean
        return from_lab(lab + self.strength * (moved - lab))  # floats in [0, 1]


def match_histograms(content, style, params):
    """Each channel's values replaced by the style's values of the same rank (uint8)."""
    out = np.empty(content.shape[:2] + (3,), np.uint8)
    for c in range(3):
        src, ref = content[..., c].ravel(), np.sort(style[..., c].ravel())
        ranks = np.empty(src.size)
        ranks[np.argsort(src, kind="stable")] = np.arange(src.size)
        positions = ranks * (ref.size - 1) / max(src.size - 1, 1)
        out[..., c] = np.rint(np.interp(positions, np.arange(ref.size), ref)).reshape(
            content.shape[:2]
        )
    return out


# -- recipes -----------------------------------------------------------------------------------
SCENES = "  - {id: scenes, uses: synthetic-scenes, with: {count: 6, holdout: 0, size: 32}}\n"
TRAIN = """\
  - id: train
    uses: train-gan
    with:
      model: pix2pix-l2
      source: ${scenes.night}
      target: ${scenes.day}
      image_size: 16
      n_layers_d: 2
      ngf: 8
      ndf: 8
      batch_size: 2
      epochs: 100
      iterations: 30
      samples_every: 5
      options: {lambda_l2: 50}
"""
PIPELINE = (
    "name: registered\nbackend: torch\ndevice: cpu\nseed: 5\nsteps:\n"
    + SCENES
    + TRAIN
    + """\
  - id: day
    uses: translate
    with: {model: '${train.generator}', images: '${scenes.night}', target: '${scenes.day}'}
  - id: warm
    uses: stylize
    with:
      images: '${scenes.night}'
      style: '${scenes.day}'
      method: colour-transfer
      options: {strength: 1.0}
      size: 32
      features: random
  - id: hist
    uses: stylize
    with: {images: '${scenes.day}', style: 'builtin:mosaic', method: histogram-match, size: 32,
           features: random}
"""
)


def load(text: str, tmp_path: Path, host: PluginHost | None = None):
    """Parse a recipe written to a file (errors name file:line) with the test plugin."""
    if host is None:
        host = PluginHost()
        host.add_module(PLUGIN, name=NAME, source="test")
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    from artforge.recipe import load_recipe

    return load_recipe(path, host), path


# -- the recipe runs -----------------------------------------------------------------------------
@needs_torch
def test_a_recipe_trains_translates_and_stylizes_with_registered_components(tmp_path):
    result = run_recipe(PIPELINE, tmp_path / "run", plugins=[PLUGIN])
    assert set(result.status.values()) == {"ran"}

    # the registered GAN trainer: trained through GANTrainer, exported, samples published
    rec = result.record("train")
    assert rec["metrics"]["iterations"] == 30 and rec["metrics"]["pairs"] == 6
    assert {"loss_D", "loss_G", "loss_G_GAN", "loss_L2"} <= set(rec["series"])
    l2 = [y for _, y in rec["series"]["loss_L2"]]
    # the L2 reconstruction term trains the generator (the curve has one point per iteration)
    assert np.mean(l2[-5:]) < 0.85 * np.mean(l2[:5]), l2
    assert rec["info"]["trainer"] == f"pix2pix-l2 (plugin {NAME}, paired data)"
    gen = result.outputs["train"]["generator"]
    assert gen.meta["model"] == "pix2pix-l2" and gen.meta["lambda_l2"] == 50.0
    assert gen.path.stat().st_size > 0
    samples = result.images("train", "samples")
    assert samples.names == ["epoch0005", "epoch0010"]  # 30 iterations: 10 epochs of 3
    assert samples.load(0).shape == (4 * 16, 3 * 16, 3)  # 4 rows: source, output, target
    assert rec["params"]["options"] == {"lambda_l2": 50}

    # translate applies the registered trainer's generator like a pix2pix one
    day = result.record("day")
    assert len(result.images("day")) == 6 and np.isfinite(day["metrics"]["psnr"])

    # colour transfer: each output has the style's l-alpha-beta means and deviations
    night, style = result.images("scenes", "night"), result.images("warm", "style").load(0)
    warm = result.images("warm")
    assert warm.names == night.names
    s_lab = to_lab(style).reshape(-1, 3)
    for i in range(len(warm)):
        out, src = to_lab(warm.load(i)).reshape(-1, 3), to_lab(night.load(i)).reshape(-1, 3)
        assert np.abs(out.mean(0) - s_lab.mean(0)).max() < 0.03
        before = np.abs(src.mean(0) - s_lab.mean(0)).sum()
        assert np.abs(out.mean(0) - s_lab.mean(0)).sum() < 0.2 * before  # night -> day
        # deviations too (beta, a narrow channel, loses some to 8-bit rounding)
        assert np.abs(np.log(out.std(0) / s_lab.std(0))).max() < 0.25
        assert np.corrcoef(out[:, 0], src[:, 0])[0, 1] > 0.95  # the content's structure
    rec = result.record("warm")
    assert rec["info"]["method"].startswith(f"colour-transfer (plugin {NAME})")
    assert np.isfinite(rec["metrics"]["style_loss_drop"])  # scored by the loss network

    # histogram matching: the style's histogram, the content's order of pixel values
    hist, src = result.images("hist"), result.images("scenes", "day")
    ref = result.images("hist", "style").load(0)
    for i in range(len(hist)):
        out, img = hist.load(i), src.load(i)
        for c in range(3):
            q = np.linspace(0, 100, 21)
            gap = np.percentile(out[..., c], q) - np.percentile(ref[..., c], q)
            assert np.abs(gap).max() <= 3
            a, b = img[..., c].ravel(), out[..., c].ravel()
            assert (np.diff(b[np.argsort(a, kind="stable")].astype(int)) >= 0).all()


def test_built_in_models_and_methods_keep_their_parameters_and_cache_keys():
    """No `options` key in a built-in's parameters (the cache key is what it was)."""
    from artforge.schemas.gan import TrainGanParams
    from artforge.schemas.style import StylizeParams

    p = TrainGanParams(model="pix2pix", source="${s.a}", target="${s.b}", image_size=32)
    assert "options" not in p.model_dump(mode="json", by_alias=True)
    s = StylizeParams(images="${s.a}", style="builtin:ink")
    assert "options" not in s.model_dump(mode="json", by_alias=True)
    assert StylizeParams(images="${s.a}", style="builtin:ink", method="gatys").method == "optimise"
    j = StylizeParams(images="${s.a}", style="builtin:ink", method="johnson")
    assert j.method == "feed-forward"


# -- validation: when the recipe is loaded -----------------------------------------------------------
def test_a_misspelt_registered_name_gets_did_you_mean_with_file_and_line(tmp_path):
    text = "name: r\nbackend: torch\nsteps:\n" + SCENES + TRAIN.replace("pix2pix-l2", "pix2pix-12")
    with pytest.raises(RecipeError) as err:
        load(text, tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'recipe.yaml'}:8:14" in msg
    assert "steps[1].with.model" in msg
    assert "unknown model 'pix2pix-12' for backend torch; did you mean 'pix2pix-l2'?" in msg
    assert err.value.hint == (
        "built-in: pix2pix, dcgan, cdcgan, cyclegan; registered for backend torch: pix2pix-l2"
    )

    text = (
        "name: r\nbackend: torch\nsteps:\n"
        + SCENES
        + (
            "  - id: warm\n    uses: stylize\n    with:\n      images: ${scenes.night}\n"
            "      style: builtin:ink\n      method: colour-transfr\n"
        )
    )
    with pytest.raises(RecipeError) as err:
        load(text, tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'recipe.yaml'}:10:15" in msg and "steps[1].with.method" in msg
    assert "did you mean 'colour-transfer'?" in msg
    assert "registered for backend torch: colour-transfer, histogram-match" in err.value.hint


def test_a_name_registered_only_for_the_other_backend_says_which(tmp_path):
    text = "name: r\nbackend: keras\nsteps:\n" + SCENES + TRAIN
    with pytest.raises(RecipeError) as err:
        load(text, tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'recipe.yaml'}:8:14" in msg
    assert (
        "model 'pix2pix-l2' is a GAN trainer registered for backend torch only, not for "
        "backend keras" in msg
    )
    assert err.value.hint.startswith("set backend: torch on this step")

    # per step: the same recipe with the training step on torch is fine
    loaded, _ = load(
        text.replace("uses: train-gan\n", "uses: train-gan\n    backend: torch\n"), tmp_path
    )
    assert loaded.steps[1].backend == "torch"

    text = (
        "name: r\nbackend: keras\nsteps:\n"
        + SCENES
        + (
            "  - id: hist\n    uses: stylize\n    with: {images: '${scenes.day}', style: 'builtin:ink',"
            " method: histogram-match}\n"
        )
    )
    with pytest.raises(
        RecipeError, match="registered for backend torch only, not for backend keras"
    ):
        load(text, tmp_path)
    # colour-transfer is registered for any backend
    ok = text.replace("histogram-match", "colour-transfer")
    assert load(ok, tmp_path)[0].steps[1].params.method == "colour-transfer"


SAMPLE = "  - id: walk\n    uses: sample\n    with:\n      generator: sparkle\n      n: 4\n"


def test_sample_generator_is_checked_when_the_recipe_loads(tmp_path):
    text = "name: r\nbackend: torch\nsteps:\n" + SAMPLE
    assert load(text, tmp_path)[0].steps[0].params.generator == "sparkle"

    with pytest.raises(RecipeError) as err:
        load(text.replace("sparkle", "sparkel"), tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'recipe.yaml'}:7:18" in msg and "steps[0].with.generator" in msg
    assert "unknown generator 'sparkel' for backend torch; did you mean 'sparkle'?" in msg
    # the backend's own registered networks are listed too (no "built-in:" part: there is none)
    assert err.value.hint.startswith("registered for backend torch: ")
    assert "sparkle" in err.value.hint

    # registered for torch only: a keras step says which backend has it
    with pytest.raises(RecipeError) as err:
        load(text.replace("backend: torch", "backend: keras"), tmp_path)
    assert (
        "generator 'sparkle' is a generator registered for backend torch only, not for "
        "backend keras" in str(err.value)
    )
    assert err.value.hint.startswith("set backend: torch on this step")

    # a recipe naming no registered generator is still refused at load time
    with pytest.raises(RecipeError, match="unknown generator 'cppm' for backend torch"):
        load(text.replace("sparkle", "cppm"), tmp_path)


def test_registered_trainers_need_their_data_and_built_ins_refuse_options(tmp_path):
    text = (
        "name: r\nbackend: torch\nsteps:\n"
        + SCENES
        + TRAIN.replace("      target: ${scenes.day}\n", "")
    )
    with pytest.raises(RecipeError, match="pix2pix-l2 trains on pairs: `source` and `target`"):
        load(text, tmp_path)
    text = "name: r\nbackend: torch\nsteps:\n" + SCENES + TRAIN.replace("pix2pix-l2", "pix2pix")
    with pytest.raises(RecipeError, match="`options` configure a trainer a plugin registers"):
        load(text, tmp_path)
    # a trainer registered without data= is not a GAN trainer (fast-style trains stylize's)
    text = "name: r\nbackend: torch\nsteps:\n" + SCENES + TRAIN.replace("pix2pix-l2", "fast-style")
    with pytest.raises(
        RecipeError, match="trainer 'fast-style' of plugin '.*' is not a GAN trainer"
    ):
        load(text, tmp_path)


def test_without_a_registry_only_built_in_names_validate():
    from pydantic import ValidationError

    from artforge.schemas.gan import TrainGanParams
    from artforge.schemas.style import StylizeParams

    pair = {"source": "${s.a}", "target": "${s.b}", "image_size": 32}
    assert TrainGanParams(model="cyclegan", **pair).loss == "lsgan"  # the paper's defaults
    with pytest.raises(ValidationError, match="unknown model 'pix2pix-l2'"):
        TrainGanParams(model="pix2pix-l2", **pair)
    with pytest.raises(ValidationError, match="did you mean 'pix2pix'"):
        TrainGanParams(model="pix2pxi", **pair)

    host = PluginHost(load_installed=False)
    host.add_module(PLUGIN, name=NAME, source="test")
    context = {"registry": host.registry, "backend": "torch"}
    p = TrainGanParams.model_validate({"model": "pix2pix-l2", **pair}, context=context)
    assert p.model == "pix2pix-l2"
    with pytest.raises(ValidationError, match="backend torch only"):
        TrainGanParams.model_validate(
            {"model": "pix2pix-l2", **pair}, context={**context, "backend": "keras"}
        )
    style = {"images": "${s.a}", "style": "builtin:ink"}
    with pytest.raises(ValidationError, match="unknown method 'colour-transfer'"):
        StylizeParams(method="colour-transfer", **style)
    s = StylizeParams.model_validate({"method": "colour-transfer", **style}, context=context)
    assert s.model_dump()["method"] == "colour-transfer"
    with pytest.raises(ValidationError, match="feed-forward only"):
        StylizeParams.model_validate(
            {"method": "colour-transfer", "checkpoint": "x.safetensors", **style}, context=context
        )


def test_steps_command_lists_the_registered_names(monkeypatch, capsys):
    from artforge import cli

    host = PluginHost()
    host.add_module(PLUGIN, name=NAME, source="test")
    monkeypatch.setattr(cli, "_HOST", [host])
    assert cli.main(["steps", "train-gan"]) == 0
    out = capsys.readouterr().out
    assert "model ('pix2pix' | 'dcgan' | 'cdcgan' | 'cyclegan' | registered GAN trainer" in out
    assert "registered for torch: pix2pix-l2" in out and "registered for keras: none" in out
    assert cli.main(["steps", "stylize", "--json"]) == 0
    rows = {
        s["backend"]: {r["name"]: r for r in s["params"]}
        for s in json.loads(capsys.readouterr().out)
    }
    assert rows["torch"]["method"]["component"] == "style-optimiser"
    assert cli.main(["steps", "stylize"]) == 0
    out = capsys.readouterr().out
    assert "registered for torch: colour-transfer, histogram-match, patch" in out
    assert "registered for keras: colour-transfer, patch\n" in out


# -- the registration and dispatch contract -----------------------------------------------------------
def test_registration_checks_the_data_kind():
    class Bad:
        @hookimpl
        def register_trainers(self, register):
            register("wgan", "x:Y", backend="torch", data="pairs")

    host = PluginHost(load_installed=False)
    host.add_module(Bad(), name="bad", source="test")
    with pytest.raises(PluginError, match="data='pairs'") as err:
        host.registry  # noqa: B018
    assert err.value.hint == "did you mean 'paired'?"

    class Odd:
        @hookimpl
        def register_style_optimisers(self, register):
            register("odd", "x:Y", data="images")

    host = PluginHost(load_installed=False)
    host.add_module(Odd(), name="odd", source="test")
    with pytest.raises(PluginError, match="only trainers take data="):
        host.registry  # noqa: B018


class FakeCtx:
    """Enough of a StepContext for the dispatch helpers."""

    def __init__(self, registry, backend="torch"):
        self.registry, self.backend, self.step_id = registry, backend, "s"
        self.info, self.metrics = {}, {}

    def component(self, kind, name):
        return self.registry.component(kind, name, self.backend).load()


def test_a_function_trainer_runs_as_is_and_a_class_without_export_is_refused():
    from artforge.components import run_gan_trainer
    from artforge.registry import Component, Registry

    calls = []

    def run(ctx, params):
        calls.append((ctx, params))
        return {"generator": "artifact"}

    class NoExport:
        def __init__(self, ctx, params, data):
            pass

        def fit(self):
            pass

    reg = Registry()
    reg.add_component(Component("trainer", "fn", run, "torch", data="images"), "mine")
    reg.add_component(Component("trainer", "half", NoExport, "torch", data="images"), "mine")
    ctx, p = FakeCtx(reg), type("P", (), {"model": "fn"})()
    assert run_gan_trainer(ctx, p, lambda *a: pytest.fail("no data for a function"), "B") == {
        "generator": "artifact"
    }
    assert calls == [(ctx, p)] and ctx.info["trainer"] == "fn (plugin mine, images data)"
    p.model = "half"
    with pytest.raises(StepError, match="trainer 'half' of plugin 'mine' has no export"):
        run_gan_trainer(ctx, p, lambda ctx, p, kind: (None, "nothing"), "B")


@needs_torch
def test_a_crash_inside_a_registered_component_names_its_plugin(tmp_path):
    from artforge.runner import StepCrashed

    text = (
        "name: r\nbackend: torch\ndevice: cpu\nsteps:\n"
        + SCENES
        + "  - id: warm\n    uses: stylize\n    with: {images: '${scenes.night}', style: "
        "'${scenes.day}', method: colour-transfer, size: 32, features: random, "
        "options: {strength: nope}}\n"
    )
    with pytest.raises(StepCrashed) as err:
        run_recipe(text, tmp_path / "run", plugins=[PLUGIN])
    assert f"crashed in style-optimiser 'colour-transfer' of plugin '{NAME}'" in str(err.value)


# -- the data train-gan builds for a registered trainer, on both backends ----------------------------
class DataCtx(FakeCtx):
    def __init__(self, sets, backend):
        super().__init__(None, backend)
        self.sets, self.seed = sets, 1

    def images(self, ref):
        return self.sets[ref]

    def resolve_path(self, path):
        return Path(path)


def image_sets(root: Path) -> dict:
    from artforge.artifacts import ImageSet
    from artforge.images import save_png

    rng = np.random.default_rng(0)
    sets = {}
    for name, labels in (("a", None), ("b", [0, 1, 0, 1, 1])):
        folder = root / name
        folder.mkdir(parents=True)
        files = []
        for i in range(5):
            save_png(folder / f"{i}.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
            files.append(f"{i}.png")
        sets["${s." + name + "}"] = ImageSet(folder, files, labels, {})
    return sets


def check_build_data(build_data, backend, tmp_path):
    from artforge.schemas.gan import TrainGanParams

    ctx = DataCtx(image_sets(tmp_path), backend)
    net = {"image_size": 16, "n_layers_d": 2, "batch_size": 2}
    pair = {"source": "${s.a}", "target": "${s.b}", **net}
    paired, words = build_data(ctx, TrainGanParams(model="pix2pix", **pair), "paired")
    assert len(paired) == 5 and words == "5 pairs" and ctx.metrics["pairs"] == 5
    unpaired, words = build_data(ctx, TrainGanParams(model="cyclegan", **pair), "unpaired")
    assert words == "5 A / 5 B images" and ctx.metrics["images_B"] == 5
    p = TrainGanParams(model="dcgan", data="${s.b}", image_size=32, batch_size=2)
    images, _ = build_data(ctx, p, "images")
    assert len(images) == 5 and images.data.shape[-2] == 32
    assert list(np.asarray(images.labels)) == [0, 1, 0, 1, 1]  # the set's labels come along
    with pytest.raises(StepError, match="batch_size 8 is larger than the 5 training pairs"):
        build_data(ctx, TrainGanParams(model="pix2pix", **{**pair, "batch_size": 8}), "paired")
    return paired, unpaired, images


@needs_torch
def test_torch_builds_each_kind_of_data_as_for_its_built_in_model(tmp_path):
    from artforge_torch.registered import build_data

    paired, unpaired, images = check_build_data(build_data, "torch", tmp_path)
    a, b = next(iter(paired.epoch(2, torch.Generator().manual_seed(0))))
    assert a.shape == b.shape == (2, 3, 16, 16) and a.min() >= -1 and a.max() <= 1
    a, b = next(iter(unpaired.epoch(2, torch.Generator().manual_seed(0))))
    assert a.shape == b.shape == (2, 3, 16, 16)
    x, y = next(iter(images.epoch(2, torch.Generator().manual_seed(0))))
    assert x.shape == (2, 3, 32, 32) and y.shape == (2,)


@pytest.mark.keras
def test_keras_builds_the_same_data_and_runs_registered_style_optimisers(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    from artforge_keras.registered import build_data

    check_build_data(build_data, "keras", tmp_path / "data")

    # colour-transfer is registered for any backend: the keras stylize step runs it, and
    # (numpy, on the same inputs) it gives the torch backend's images exactly
    text = (
        "name: r\nbackend: keras\ndevice: cpu\nsteps:\n"
        + SCENES.replace("count: 6", "count: 2")
        + "  - id: warm\n    uses: stylize\n    with: {images: '${scenes.night}', style: "
        "'${scenes.day}', method: colour-transfer, size: 32, features: random}\n"
    )
    keras_run = run_recipe(text, tmp_path / "keras", plugins=[PLUGIN])
    assert keras_run.record("warm")["backend"] == "keras"
    assert np.isfinite(keras_run.record("warm")["metrics"]["style_loss_drop"])
    if torch is not None:
        torch_run = run_recipe(
            text.replace("backend: keras", "backend: torch"), tmp_path / "torch", plugins=[PLUGIN]
        )
        k, t = keras_run.images("warm"), torch_run.images("warm")
        assert k.names == t.names
        assert all(np.array_equal(k.load(i), t.load(i)) for i in range(len(k)))


@pytest.mark.keras
def test_keras_train_gan_runs_a_trainer_registered_for_keras(tmp_path):
    """The Keras dispatch end to end: a GANTrainer subclass registered with data="paired"
    (here the backend's own pix2pix trainer under another name) gets PairedData, fit(),
    export() and its samples published."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")

    class KerasPlugin:
        @hookimpl
        def register_trainers(self, register):
            register(
                "pix2pix-again",
                "artforge_keras.pix2pix:Pix2PixTrainer",
                backend="keras",
                data="paired",
            )

    text = (
        "name: r\nbackend: keras\ndevice: cpu\nsteps:\n"
        + SCENES.replace("count: 6", "count: 2")
        + TRAIN.replace("pix2pix-l2", "pix2pix-again")
        .replace("iterations: 30", "iterations: 2")
        .replace("      options: {lambda_l2: 50}\n", "")
    )
    result = run_recipe(text, tmp_path / "run", plugins=[KerasPlugin()])
    rec = result.record("train")
    assert rec["backend"] == "keras" and rec["metrics"]["iterations"] == 2
    assert rec["info"]["trainer"] == "pix2pix-again (plugin KerasPlugin, paired data)"
    assert result.outputs["train"]["generator"].meta["backend"] == "keras"
    # 2 iterations: 2 epochs of 1 batch; samples every 5 epochs and after the last
    assert result.images("train", "samples").names == ["epoch0002"]
