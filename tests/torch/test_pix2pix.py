"""pix2pix networks, the GAN trainer (resume, guard) and the train-gan/translate steps."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.errors import Diverged, StepError  # noqa: E402
from artforge.images import save_png  # noqa: E402
from artforge_torch.data import PairedData, paired_from_folder  # noqa: E402
from artforge_torch.nets.pix2pix import PatchDiscriminator, UNetGenerator, receptive_field  # noqa: E402
from artforge_torch.pix2pix import Pix2PixTrainer  # noqa: E402
from tests.helpers_gan import block_pairs, pix2pix_params, step_context  # noqa: E402


@pytest.mark.parametrize("size", [16, 32, 64, 128, 256, 512])
def test_unet_shapes(size):
    g = UNetGenerator(image_size=size, ngf=4)
    assert g.downs == int(np.log2(size))
    x = torch.randn(1, 3, size, size)
    y = g.eval()(x)
    assert y.shape == x.shape and y.abs().max() <= 1


def test_unet_rejects_bad_size():
    with pytest.raises(ValueError, match="power of two"):
        UNetGenerator(image_size=100)


@pytest.mark.parametrize("size,grid", [(256, 30), (64, 6), (32, 2)])
def test_patchgan_grid_and_receptive_field(size, grid):
    d = PatchDiscriminator(6, ndf=8)
    assert d(torch.randn(2, 6, size, size)).shape == (2, 1, grid, grid)
    assert receptive_field(3) == 70


def _ctx(tmp_path, seed=0):
    return step_context(tmp_path, "torch", seed=seed)


def _data(n=8, size=16):
    a, b = block_pairs(n, size)
    return PairedData(a, b, size, size, flip=False)


_params = pix2pix_params


def test_few_steps_reduce_l1(tmp_path):
    torch.manual_seed(0)
    trainer = Pix2PixTrainer(_ctx(tmp_path), _params(lambda_l1=100, dropout=False, lr_g=1e-3), _data())
    batch = next(trainer.data.epoch(4, torch.Generator().manual_seed(0)))
    first = trainer.train_step(batch)["loss_L1"]
    for _ in range(25):
        last = trainer.train_step(batch)["loss_L1"]
    assert last < 0.8 * first


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path):
    # uninterrupted: 3 epochs
    full = Pix2PixTrainer(_ctx(tmp_path / "a"), _params(epochs=3), _data())
    full.fit()
    # interrupted after 2 epochs (checkpoint written), then resumed in a fresh trainer
    part = Pix2PixTrainer(_ctx(tmp_path / "b"), _params(epochs=2), _data())
    part.fit()
    resumed = Pix2PixTrainer(_ctx(tmp_path / "b"), _params(epochs=3), _data())
    resumed.fit()
    assert resumed.iteration == full.iteration == 6
    got = [y for _, y in resumed.series["loss_G"]]
    want = [y for _, y in full.series["loss_G"]]
    assert len(got) == len(want) == 6 and got == pytest.approx(want, rel=1e-5)
    for k, v in full.nets["G"].state_dict().items():
        assert torch.allclose(v.float(), resumed.nets["G"].state_dict()[k].float(), atol=1e-6), k


def test_divergence_guard_stops_on_nan(tmp_path, monkeypatch):
    trainer = Pix2PixTrainer(_ctx(tmp_path), _params(), _data())
    monkeypatch.setattr(trainer, "train_step", lambda batch: {"loss_D": float("nan"), "loss_G": 1.0})
    with pytest.raises(Diverged, match="loss_D is nan"):
        trainer.fit()
    assert any("divergence guard" in w for w in trainer.ctx.warnings)


def test_divergence_guard_rollback_lowers_the_learning_rate(tmp_path, monkeypatch):
    trainer = Pix2PixTrainer(_ctx(tmp_path), _params(on_divergence="rollback", max_rollbacks=2), _data())
    real_step = trainer.train_step
    calls = {"n": 0}

    def flaky(batch):
        calls["n"] += 1
        losses = real_step(batch)
        if calls["n"] == 3:  # one NaN in the second epoch
            losses["loss_G"] = float("inf")
        return losses

    monkeypatch.setattr(trainer, "train_step", flaky)
    trainer.fit()
    assert trainer.rollbacks == 1 and trainer.epoch == 2
    assert trainer.opts["G"].param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5)
    assert any("rolled back" in w for w in trainer.ctx.warnings)


# the stand-in train_step steps no optimiser, so torch warns about the scheduler's order
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`:UserWarning")
def test_discriminator_collapse_is_detected(tmp_path, monkeypatch):
    trainer = Pix2PixTrainer(_ctx(tmp_path), _params(collapse_patience=3), _data())
    monkeypatch.setattr(trainer, "train_step", lambda batch: {"loss_D": 0.0, "loss_G": 5.0})
    with pytest.raises(Diverged, match="discriminator collapsed"):
        trainer.fit()


def test_aligned_folder_and_pair_folders(tmp_path):
    aligned = tmp_path / "aligned"
    pairs = tmp_path / "pairs"
    for i in range(3):
        a = np.full((8, 8, 3), 10 * i, np.uint8)
        b = np.full((8, 8, 3), 200 - i, np.uint8)
        save_png(aligned / f"img{i}.png", np.concatenate([a, b], axis=1))
        save_png(pairs / "A" / f"img{i}.png", a)
        save_png(pairs / "B" / f"img{i}.png", b)
    save_png(pairs / "A" / "lonely.png", np.zeros((8, 8, 3), np.uint8))
    for folder in (aligned, pairs):
        names, a, b = paired_from_folder(folder)
        assert names == ["img0", "img1", "img2"]
        assert a[1][0, 0, 0] == 10 and b[1][0, 0, 0] == 199
    names, a, b = paired_from_folder(aligned, "BtoA")
    assert a[0][0, 0, 0] == 200
    save_png(tmp_path / "odd" / "x.png", np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(StepError, match="odd"):
        paired_from_folder(tmp_path / "odd")


def test_augmentation_crops_and_flips_pairs_together():
    rng = np.random.default_rng(1)
    a = [rng.integers(0, 255, (20, 20, 3), dtype=np.uint8) for _ in range(4)]
    data = PairedData(a, [x.copy() for x in a], 16, 20, flip=True)
    for xa, xb in data.epoch(2, torch.Generator().manual_seed(3)):
        assert xa.shape == (2, 3, 16, 16)
        assert torch.equal(xa, xb)  # identical sides stay identical after crop + flip


@pytest.mark.slow
def test_tiny_end_to_end_recipe(tmp_path):
    import json

    from artforge.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        """name: tiny-n2d
seed: 0
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 16, holdout: 4, size: 32}
  - id: train
    uses: train-gan
    with: {source: '${scenes.night}', target: '${scenes.day}', image_size: 32,
           batch_size: 4, epochs: 2, ngf: 8, ndf: 8}
  - id: translate
    uses: translate
    with: {model: '${train.generator}', images: '${scenes.holdout_night}', target: '${scenes.holdout_day}',
           baseline_source: '${scenes.night}', baseline_target: '${scenes.day}'}
"""
    )
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out), "-q"]) == 0
    rec = json.loads((out / "steps/translate/record.json").read_text())
    assert {"psnr", "ssim", "baseline_psnr", "psnr_margin_db"} <= set(rec["metrics"])
    assert len(rec["outputs"]["images"]["files"]) == 4
    metrics = json.loads((out / "steps/translate/metrics/metrics.json").read_text())
    assert metrics["mean"]["psnr"] == pytest.approx(rec["metrics"]["psnr"])
    train = json.loads((out / "steps/train/record.json").read_text())
    assert train["outputs"]["samples"]["files"] == ["epoch0001.png", "epoch0002.png"]
    assert "loss_D" in train["series"] and train["outputs"]["generator"]["meta"]["sha256"]
    # translate a larger, odd-sized image by padding and by tiling: both give the input's size
    from artforge_torch.gan_steps import build_generator, run_tiled, run_whole

    meta = train["outputs"]["generator"]["meta"]
    net = build_generator(meta, out / "steps/train/generator/generator.safetensors")
    x = torch.rand(1, 3, 45, 70) * 2 - 1
    with torch.inference_mode():
        assert run_whole(net, x, meta["multiple"]).shape == (1, 3, 45, 70)
        assert run_tiled(net, x, 32, 8, meta["multiple"]).shape == (1, 3, 45, 70)
