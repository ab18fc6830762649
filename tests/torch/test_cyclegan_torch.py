"""CycleGAN on the PyTorch backend: the trainer (shapes, losses, the history pools in the
checkpoint, resume), unpaired data from image sets (trainA/trainB folders:
tests/core/test_unpaired_folder.py), the exported pair of generators and translate in both
directions."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.errors import StepError  # noqa: E402
from artforge.images import save_png  # noqa: E402
from artforge.schemas.gan import TrainGanParams  # noqa: E402
from artforge_torch.cyclegan import (  # noqa: E402
    CycleGANTrainer,
    UnpairedData,
    build_resnet,
    generator_kwargs,
    unpaired_from_folder,
)
from tests.helpers_gan import cyclegan_params, step_context, unpaired_domains  # noqa: E402


def _ctx(tmp_path, seed=0):
    return step_context(tmp_path, "torch", seed=seed)


def _data(size=16, load=16, flip=False, **kw):
    a, b = unpaired_domains(size=load, **kw)
    return UnpairedData(a, b, size, load, flip)


_params = cyclegan_params


def test_unpaired_from_folder_is_the_core_one():  # its tests: tests/core/test_unpaired_folder.py
    from artforge.images import unpaired_from_folder as core

    assert unpaired_from_folder is core


def test_paper_defaults_unless_set():
    p = TrainGanParams(model="cyclegan", source="${s.a}", target="${s.b}", image_size=128)
    assert (p.loss, p.norm, p.dropout, p.n_blocks) == ("lsgan", "instance", False, 6)
    assert (p.lambda_cycle, p.lambda_identity, p.pool_size, p.lr_g, p.beta1) == (
        10,
        0.5,
        50,
        2e-4,
        0.5,
    )
    assert TrainGanParams(model="cyclegan", folder="x", image_size=256).n_blocks == 9
    p = TrainGanParams(
        model="cyclegan", folder="x", image_size=256, norm="batch", loss="hinge", n_blocks=3
    )
    assert (p.loss, p.norm, p.n_blocks) == ("hinge", "batch", 3)
    assert TrainGanParams(source="${s.a}", target="${s.b}").norm == "batch"  # pix2pix keeps its own
    with pytest.raises(ValueError, match="trainA"):
        TrainGanParams(model="cyclegan", source="${s.a}")


def test_networks_shapes_and_sample_grid(tmp_path):
    trainer = CycleGANTrainer(_ctx(tmp_path), _params(), _data())
    G, D = trainer.nets["G"], trainer.nets["D"]
    assert set(G) == {"AtoB", "BtoA"} and set(D) == {"A", "B"}
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    assert G["AtoB"](x).shape == G["BtoA"](x).shape == x.shape
    assert D["A"](x).shape == (2, 1, 2, 4)
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in G.modules()) > 0
    grid = trainer.sample_grid()  # 4 A rows of A | G(A) | F(G(A)), 4 B rows of B | F(B) | G(F(B))
    assert grid.shape == (8 * 16, 3 * 16, 3) and grid.dtype == np.uint8


def test_unpaired_epochs_shuffle_each_domain_deterministically():
    data = _data(size=16, load=20, flip=True, n_a=6, n_b=4)
    assert len(data) == 6 and data.batches_per_epoch(2) == 3

    def epoch(seed):
        return list(data.epoch(2, torch.Generator().manual_seed(seed)))

    first, again, other = epoch(1), epoch(1), epoch(2)
    assert len(first) == 3 and all(a.shape == b.shape == (2, 3, 16, 16) for a, b in first)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(first, again))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(first, other))
    # the smaller domain wraps around: every B image appears in an epoch of 6
    orders = [data.order(s, 2)[1] for s in range(3)]
    assert all(sorted(o[:4].tolist()) == [0, 1, 2, 3] and len(o) == 6 for o in orders)


def test_upsample_and_head_reach_the_generators_and_the_artifact(tmp_path):
    """upsample/head (paper: transpose/rgb) build the generators the artifact describes,
    and translate's builder rebuilds them from its kwargs; bad values are rejected."""
    p = TrainGanParams(model="cyclegan", folder="x", image_size=32)
    assert (p.upsample, p.head) == ("transpose", "rgb")
    p = _params(upsample="nearest", head="affine")
    trainer = CycleGANTrainer(_ctx(tmp_path), p, _data())
    G = trainer.nets["G"]["AtoB"]
    assert G.head == "affine" and any(isinstance(m, torch.nn.Upsample) for m in G.modules())
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in G.modules())
    step = trainer.train_step(next(trainer.data.epoch(2, torch.Generator().manual_seed(0))))
    assert all(np.isfinite(v) for v in step.values())
    kwargs = generator_kwargs(p)
    assert (kwargs["upsample"], kwargs["head"]) == ("nearest", "affine")
    with pytest.raises(ValueError, match="head"):
        TrainGanParams(model="cyclegan", folder="x", image_size=32, head="rgba")


def test_few_steps_on_a_fixed_batch_reduce_the_cycle_loss(tmp_path):
    trainer = CycleGANTrainer(_ctx(tmp_path), _params(lr_g=1e-3), _data())
    batch = next(trainer.data.epoch(2, torch.Generator().manual_seed(0)))
    first = trainer.train_step(batch)
    assert set(first) == {
        "loss_D_A",
        "loss_D_B",
        "loss_D",
        "loss_G",
        "loss_G_GAN",
        "loss_cycle",
        "loss_idt",
    }
    assert first["loss_D"] == pytest.approx(0.5 * (first["loss_D_A"] + first["loss_D_B"]))
    for _ in range(25):
        last = trainer.train_step(batch)
    assert last["loss_cycle"] < 0.7 * first["loss_cycle"]


def test_the_pools_feed_the_discriminators_and_round_trip_through_the_checkpoint(tmp_path):
    trainer = CycleGANTrainer(_ctx(tmp_path), _params(pool_size=3), _data())
    queried = []
    for side, pool in trainer.pools.items():
        real = pool.query
        pool.query = lambda x, _r=real, _s=side: queried.append(_s) or _r(x)
    batch = next(trainer.data.epoch(2, torch.Generator().manual_seed(0)))
    for _ in range(3):
        trainer.train_step(batch)
    assert sorted(set(queried)) == ["A", "B"] and len(queried) == 6
    assert len(trainer.pools["A"]) == len(trainer.pools["B"]) == 3  # full: 3 images each
    trainer.save()
    state = torch.load(trainer.checkpoint_path, weights_only=True)
    assert len(state["pools"]["A"]["images"]) == 3
    fresh = CycleGANTrainer(_ctx(tmp_path), _params(pool_size=3), _data())
    assert len(fresh.pools["A"]) == 0
    fresh.load_state(state)
    for side in ("A", "B"):
        got, want = fresh.pools[side].images, trainer.pools[side].images
        assert len(got) == 3 and all(torch.equal(x, y) for x, y in zip(got, want))


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path):
    # 6 A images, batch 2: 3 iterations per epoch; pool_size 3 fills within the first epoch,
    # so the resumed run's discriminators draw from a restored, full pool
    full = CycleGANTrainer(_ctx(tmp_path / "a"), _params(epochs=3), _data())
    full.fit()
    part = CycleGANTrainer(_ctx(tmp_path / "b"), _params(epochs=2), _data())
    part.fit()
    resumed = CycleGANTrainer(_ctx(tmp_path / "b"), _params(epochs=3), _data())
    resumed.fit()
    assert resumed.ctx.info["resumed_from_epoch"] == 2
    assert resumed.iteration == full.iteration == 9
    for k in ("loss_G", "loss_D_A", "loss_D_B", "loss_cycle", "loss_idt"):
        got = [y for _, y in resumed.series[k]]
        want = [y for _, y in full.series[k]]
        assert len(got) == len(want) == 9 and got == pytest.approx(want, rel=1e-5), k
    for k, v in full.nets["G"].state_dict().items():
        assert torch.allclose(v, resumed.nets["G"].state_dict()[k], atol=1e-6), k


def _run_steps(tmp_path, trained_dir):
    """train-gan from a trainA/trainB folder, then translate both ways, as the runner does."""
    from artforge.schemas.gan import TranslateParams
    from artforge_torch.gan_steps import train_gan, translate

    root = trained_dir / "ds"
    rng = np.random.default_rng(1)
    for i in range(4):
        save_png(root / "trainA" / f"a{i}.png", rng.integers(0, 80, (16, 16, 3), dtype=np.uint8))
        save_png(root / "trainB" / f"b{i}.png", rng.integers(170, 255, (16, 16, 3), dtype=np.uint8))
    ctx = _ctx(trained_dir)
    p = _params(folder="ds", source=None, target=None, epochs=1, ema=0.5)
    outputs = train_gan(ctx, p)
    art = outputs["generator"]
    assert ctx.metrics["images_A"] == ctx.metrics["images_B"] == 4
    assert set(ctx.series) >= {"loss_D_A", "loss_D_B", "loss_D", "loss_G", "loss_cycle", "loss_idt"}
    assert outputs["samples"].names == ["epoch0001"]
    from artforge.artifacts import ImageSet

    inputs = ImageSet(root / "trainA", ["a0.png", "a1.png"])
    results = {}
    for direction in ("AtoB", "BtoA"):
        tctx = _ctx(tmp_path / f"tr_{direction}")
        tctx.resolve = lambda ref: {"${train.generator}": art, "${x.images}": inputs}[ref]
        out = translate(
            tctx,
            TranslateParams(model="${train.generator}", images="${x.images}", direction=direction),
        )
        results[direction] = [out["images"].load(i) for i in range(2)]
    return art, results


def test_export_holds_both_generators_and_translate_goes_either_way(tmp_path):
    art, results = _run_steps(tmp_path, tmp_path / "train")
    assert art.meta["arch"] == "resnet" and art.meta["directions"] == ["AtoB", "BtoA"]
    assert art.meta["ema"] is True and art.meta["multiple"] == 4
    from safetensors.torch import load_file

    keys = set(load_file(str(art.path)))
    assert any(k.startswith("AtoB.model.") for k in keys) and any(
        k.startswith("BtoA.") for k in keys
    )
    assert results["AtoB"][0].shape == (16, 16, 3)
    assert not np.array_equal(results["AtoB"][0], results["BtoA"][0])
    # the builder gives the generator of each direction, the same weights as the export
    gens = {d: build_resnet(art.meta, art.path, d) for d in ("AtoB", "BtoA")}
    state = load_file(str(art.path))
    for d, net in gens.items():
        for k, v in net.state_dict().items():
            assert torch.equal(v, state[f"{d}.{k}"]), (d, k)
    with pytest.raises(StepError, match="no CtoD"):
        build_resnet(art.meta, art.path, "CtoD")
    record = json.dumps(art.meta)  # the meta goes into record.json as it is
    assert "sha256" in record


def test_tiny_day_to_night_recipe_end_to_end(tmp_path):
    from artforge.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        """name: tiny-cyclegan
seed: 0
device: cpu
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 8, holdout: 4, size: 32, unpaired: true}
  - id: pairs
    uses: synthetic-scenes
    with: {count: 8, holdout: 0, size: 32}
  - id: train
    uses: train-gan
    with: {model: cyclegan, source: '${scenes.day}', target: '${scenes.night}', image_size: 32,
           batch_size: 4, epochs: 1, ngf: 8, ndf: 8}
  - id: translate
    uses: translate
    with: {model: '${train.generator}', images: '${scenes.holdout_day}', direction: AtoB,
           target: '${scenes.holdout_night}', baseline_source: '${pairs.day}',
           baseline_target: '${pairs.night}'}
  - id: back
    uses: translate
    with: {model: '${train.generator}', images: '${scenes.holdout_night}', direction: BtoA}
gallery: {enabled: false}
"""
    )
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "-q"]) == 0
    rec = json.loads((out / "steps/translate/record.json").read_text())
    assert {"psnr", "ssim", "baseline_psnr", "psnr_margin_db"} <= set(rec["metrics"])
    assert len(rec["outputs"]["images"]["files"]) == 4
    train = json.loads((out / "steps/train/record.json").read_text())
    assert train["params"]["n_blocks"] == 6 and train["params"]["loss"] == "lsgan"
    assert {"loss_D_A", "loss_D_B", "loss_D", "loss_G", "loss_cycle", "loss_idt"} <= set(
        train["series"]
    )
    assert train["outputs"]["samples"]["files"] == ["epoch0001.png"]
    back = json.loads((out / "steps/back/record.json").read_text())
    assert len(back["outputs"]["images"]["files"]) == 4


def test_the_shipped_recipe_runs_at_a_tiny_size(tmp_path):
    from pathlib import Path

    from artforge.cli import main

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "day_to_night_cyclegan.yaml"
    if not recipe.exists():
        pytest.skip("recipes/day_to_night_cyclegan.yaml is not in this checkout")
    assert main(["validate", str(recipe)]) == 0
    out = tmp_path / "run"
    tiny = [
        "vars.size=32",
        "vars.images=6",
        "vars.holdout=2",
        "vars.validation=2",
        "vars.epochs=1",
        "vars.decay_epochs=0",
        "vars.ngf=8",
    ]
    args = ["run", str(recipe), "--out", str(out), "-q", "--set", "device=cpu"]
    for item in tiny:
        args += ["--set", item]
    assert main(args) == 0
    rec = json.loads((out / "steps/translate/record.json").read_text())
    assert rec["params"]["direction"] == "AtoB" and rec["metrics"]["scored_images"] == 2
    assert "psnr_margin_db" in rec["metrics"]
    train = json.loads((out / "steps/train/record.json").read_text())
    params = train["params"]
    assert params["lambda_cycle"] == 200 and params["n_blocks"] == 6
    assert (params["upsample"], params["head"]) == ("transpose", "rgb")
    assert train["outputs"]["generator"]["meta"]["kwargs"]["head"] == "rgb"
    assert (out / "steps/collage/record.json").is_file() and (out / "index.html").is_file()
