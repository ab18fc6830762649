"""The ``super-resolve`` step end to end on tiny images (PyTorch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from artforge.errors import RecipeError, StepError  # noqa: E402
from artforge.images import load_image  # noqa: E402
from artforge.plugins import PluginHost  # noqa: E402
from artforge.recipe import load_recipe  # noqa: E402
from artforge.runner import Runner  # noqa: E402

HEAD = """name: sr-test
seed: 3
device: cpu
gallery: {enabled: false}
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 4, holdout: 2, size: 48}
"""


@pytest.fixture(scope="module")
def host():
    return PluginHost()


def run(host, tmp_path, steps: str, out="run", overrides=()):
    path = tmp_path / "recipe.yaml"
    path.write_text(HEAD + steps)
    recipe = load_recipe(path, host, overrides)
    Runner(recipe, host, tmp_path / out, quiet=True, log=lambda m: None).run()
    return tmp_path / out


def record(run_dir, step):
    return json.loads((run_dir / "steps" / step / "record.json").read_text())


def images(run_dir, step, output="images"):
    rec = record(run_dir, step)["outputs"][output]
    root = run_dir / "steps" / step / rec["path"]
    return {f: load_image(root / f) for f in rec["files"]}


def test_evaluate_mode_scores_bicubic_against_itself_and_matches_upscale_mode(host, tmp_path):
    out = run(
        host,
        tmp_path,
        """
  - id: ev
    uses: super-resolve
    with: {images: "${scenes.holdout_day}", method: bicubic, mode: evaluate, scale: 3}
  - id: up
    uses: super-resolve
    with: {images: "${ev.lowres}", method: bicubic, scale: 3,
           ground_truth: "${scenes.holdout_day}"}
""",
    )
    m = record(out, "ev")["metrics"]
    assert m["psnr_gain_db"] == 0 and m["y_psnr"] == m["bicubic_y_psnr"] > 15
    assert 0 < m["y_ssim"] == m["bicubic_y_ssim"] <= 1
    lows, highs = images(out, "ev", "lowres"), images(out, "ev")
    assert all(a.shape == (16, 16, 3) for a in lows.values())  # 48 / 3
    assert all(a.shape == (48, 48, 3) for a in highs.values())
    # upscaling the same low-resolution images and scoring them against the originals
    # reproduces evaluation mode exactly
    up = record(out, "up")["metrics"]
    assert up["y_psnr"] == m["y_psnr"] and up["y_ssim"] == m["y_ssim"]
    ups = images(out, "up")
    assert ups.keys() == highs.keys() and all(np.array_equal(ups[k], highs[k]) for k in highs)


def test_espcn_trains_saves_and_reloads_with_identical_tiled_results(host, tmp_path):
    out = run(
        host,
        tmp_path,
        """
  - id: sr
    uses: super-resolve
    with: {images: "${scenes.holdout_day}", train: "${scenes.day}", method: espcn,
           mode: evaluate, steps: 30, batch_size: 4, patch_size: 32, tile: null}
  - id: again
    uses: super-resolve
    with: {images: "${scenes.holdout_day}", model: "${sr.model}", method: espcn,
           mode: evaluate, tile: 8}
""",
    )
    rec = record(out, "sr")
    m = rec["metrics"]
    assert m["train_steps"] == 30 and np.isfinite(m["final_train_loss"])
    assert {"y_psnr", "bicubic_y_psnr", "y_ssim", "bicubic_y_ssim", "psnr_gain_db"} <= set(m)
    assert [x for x, _ in rec["series"]["loss"]][-1] == 30
    assert "trained on 4 images" in rec["info"]["model"]
    assert rec["outputs"]["model"]["meta"]["arch"] == "espcn"
    first, second = images(out, "sr"), images(out, "again")
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)  # 8-pixel tiles, same output
    assert record(out, "again")["metrics"]["y_psnr"] == m["y_psnr"]

    ckpt = out / "steps/sr/model/sr.safetensors"
    out2 = run(
        host,
        tmp_path,
        f"""
  - id: ck
    uses: super-resolve
    with: {{images: "${{scenes.holdout_day}}", checkpoint: "{ckpt}", method: espcn,
           mode: evaluate}}
""",
        out="run2",
    )
    third = images(out2, "ck")
    assert all(np.array_equal(first[k], third[k]) for k in first)
    with pytest.raises(StepError, match="trained for x2, but this step asks for x3"):
        run(
            host,
            tmp_path,
            f"""
  - id: ck
    uses: super-resolve
    with: {{images: "${{scenes.holdout_day}}", checkpoint: "{ckpt}", method: espcn, scale: 3}}
""",
            out="run3",
        )


def test_zero_shot_training_on_each_image(host, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("ARTFORGE_VGG19_WEIGHTS", raising=False)
    out = run(
        host,
        tmp_path,
        """
  - id: zs
    uses: super-resolve
    with: {images: "${scenes.holdout_day}", method: espcn, mode: evaluate, steps: 8,
           batch_size: 2, patch_size: 16, perceptual_weight: 0.1}
""",
    )
    rec = record(out, "zs")
    assert "zero-shot" in rec["info"]["training"]
    assert any("no VGG19 ImageNet weights" in w for w in rec["warnings"])
    assert rec["metrics"]["train_steps"] == 8 and "model" not in rec["outputs"]
    assert len(rec["series"]["loss"]) == 1  # the first image's curve (logged every 10 steps)
    assert all(a.shape == (48, 48, 3) for a in images(out, "zs").values())


@pytest.mark.slow
def test_srgan_runs_its_adversarial_phase_on_the_gan_trainer(host, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    from artforge_torch.nets.features import VGG19Features

    # VGG19 weights (random values, torchvision layout) switch on the VGG54 content loss
    torch.manual_seed(0)
    vgg = tmp_path / "vgg19.safetensors"
    save_file(
        {f"features.{k}": v for k, v in VGG19Features().features.state_dict().items()}, str(vgg)
    )
    monkeypatch.setenv("ARTFORGE_VGG19_WEIGHTS", str(vgg))
    out = run(
        host,
        tmp_path,
        """
  - id: gan
    uses: super-resolve
    with: {images: "${scenes.holdout_day}", train: "${scenes.day}", method: srgan, scale: 2,
           steps: 4, batch_size: 2, patch_size: 24, pretrain_fraction: 0.5, tile: null}
""",
    )
    rec = record(out, "gan")
    assert "SRGAN phase: 2 iterations" in rec["info"]["adversarial"]
    assert rec["info"]["perceptual_loss"].startswith("VGG19 conv5_4 features x 0.006")
    assert {"loss_D", "loss_G", "loss_G_GAN"} <= set(rec["series"])
    assert rec["outputs"]["model"]["meta"]["arch"] == "srresnet"
    assert all(a.shape == (96, 96, 3) for a in images(out, "gan").values())


@pytest.mark.parametrize(
    "params, message",
    [
        ("{images: '${scenes.day}', method: espcn, scale: 5}", "supports scale 2, 3 or 4"),
        ("{images: '${scenes.day}', method: bicubic, train: '${scenes.day}'}", "interpolation"),
        (
            "{images: '${scenes.day}', mode: evaluate, ground_truth: '${scenes.day}'}",
            "drop `ground_truth`",
        ),
    ],
)
def test_invalid_parameters_are_recipe_errors(host, tmp_path, params, message):
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + f"  - id: sr\n    uses: super-resolve\n    with: {params}\n")
    with pytest.raises(RecipeError, match=message):
        load_recipe(path, host)


# -- streaming: one image alive at a time ------------------------------------------------------
class _Events:
    """What the fake image sets and writers saw, in order."""

    def __init__(self):
        self.log: list[tuple[str, str, str]] = []
        self.live = 0  # decoded inputs not yet written to every writer
        self.most_live = 0


class _FakeSet:
    def __init__(self, events, what, names, size):
        self.events, self.what, self.names, self.size = events, what, names, size
        self.paths = [f"/nonexistent/{n}.png" for n in names]  # headers unread: sizes unknown

    def __len__(self):
        return len(self.names)

    def load(self, i):
        self.events.log.append(("load", self.what, self.names[i]))
        if self.what == "src":
            self.events.live += 1
            self.events.most_live = max(self.events.most_live, self.events.live)
        rng = np.random.default_rng(i)
        return rng.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8)


class _FakeWriter:
    def __init__(self, events, output, last):
        self.events, self.output, self.last, self.files = events, output, last, []

    def add(self, image, name=None, label=None):
        self.events.log.append(("add", self.output, name))
        self.files.append(name)
        if self.output == self.last:
            self.events.live -= 1
        return name

    def finish(self, **meta):
        return list(self.files)


class _FakeCtx:
    step_id = "sr"

    def __init__(self, sets, last):
        self.events = _Events()
        self.sets, self.last = sets, last
        self.metrics, self.info, self.warnings = {}, {}, []

    def images(self, ref):
        what, names, size = self.sets[ref]
        return _FakeSet(self.events, what, names, size)

    def image_writer(self, output, **meta):
        return _FakeWriter(self.events, output, self.last)

    def warn(self, msg):
        self.warnings.append(msg)


@pytest.mark.parametrize("mode", ["evaluate", "upscale"])
def test_the_step_writes_each_image_before_decoding_the_next(mode):
    from artforge.schemas.sr import SuperResolveParams
    from artforge_torch.sr.step import run as sr_run

    names = ["a", "b", "c", "d"]
    if mode == "evaluate":
        sets = {"${s.x}": ("src", names, 24)}
        p = SuperResolveParams(images="${s.x}", method="bicubic", mode="evaluate", scale=2)
        last = "lowres"
    else:  # with a ground truth for all but the last, decoded with its input
        sets = {"${s.x}": ("src", names, 12), "${s.gt}": ("gt", names[:3], 24)}
        p = SuperResolveParams(images="${s.x}", method="bicubic", scale=2, ground_truth="${s.gt}")
        last = "bicubic"
    ctx = _FakeCtx(sets, last)
    outputs = sr_run(ctx, p)
    log = ctx.events.log
    assert ctx.events.most_live == 1  # one decoded input alive at a time
    loads = [i for i, e in enumerate(log) if e[:2] == ("load", "src")]
    for k, name in enumerate(names):
        adds = [i for i, e in enumerate(log) if e[0] == "add" and e[2] == name]
        assert len(adds) == (3 if mode == "evaluate" else 2)
        # written through every writer before the next input is decoded
        assert loads[k] < min(adds) and (k + 1 == len(names) or max(adds) < loads[k + 1])
    if mode == "upscale":  # the ground truth too, one at a time next to its input
        gts = [i for i, e in enumerate(log) if e[:2] == ("load", "gt")]
        assert [log[i][2] for i in gts] == names[:3]
        assert all(loads[k] < gts[k] < loads[k + 1] for k in range(3))
        assert ctx.warnings and "1 image(s) have no ground truth" in ctx.warnings[0]
    assert outputs["images"] == names and ctx.metrics["images"] == 4
    scored = names if mode == "evaluate" else names[:3]
    assert list(ctx.metrics["per_image"]) == scored
    # the means are of the per-image scores (streamed, not collected)
    per = ctx.metrics["per_image"]
    assert ctx.metrics["y_psnr"] == pytest.approx(
        np.mean([per[n]["y_psnr"] for n in scored]), abs=1e-3
    )


def test_a_learned_method_upscales_image_by_image(monkeypatch):
    """The network's upscale is called per image, between decoding it and writing it."""
    from artforge import sr_learned
    from artforge.schemas.sr import SuperResolveParams
    from artforge.sr_baselines import upscale
    from artforge_torch.sr import step
    from artforge_torch.sr.step import run as sr_run

    class FakeUpscaler:
        model_artifact = None
        infer_seconds = 1.0

        def __init__(self, ctx, p, rt):
            assert rt == "runtime"
            self.ctx, self.p, self.calls = ctx, p, []

        def begin(self):
            self.ctx.events.log.append(("begin", "", ""))

        def upscale(self, i, lo, name):
            self.ctx.events.log.append(("upscale", str(i), name))
            return upscale(lo, self.p.scale, "bicubic")

        def finish(self):
            self.ctx.events.log.append(("finish", "", ""))
            self.ctx.metrics["train_steps"] = 1

    monkeypatch.setattr(sr_learned, "Upscaler", FakeUpscaler)
    monkeypatch.setattr(step, "make_runtime", lambda ctx: "runtime")
    names = ["a", "b", "c"]
    ctx = _FakeCtx({"${s.x}": ("src", names, 24)}, "lowres")
    p = SuperResolveParams(images="${s.x}", method="espcn", mode="evaluate", scale=2, steps=1)
    sr_run(ctx, p)
    kinds = [e[0] if e[0] != "add" else f"add {e[1]}" for e in ctx.events.log]
    per_image = ["load", "upscale", "add images", "add bicubic", "add lowres"]
    assert kinds == ["begin", *per_image * 3, "finish"]
    assert ctx.events.most_live == 1
    assert list(ctx.metrics)[:3] == ["train_steps", "scale", "images"]  # the record's order
    assert ctx.metrics["psnr_gain_db"] == 0  # espcn faked by bicubic


def test_evaluate_refuses_a_too_small_image_before_any_training(tmp_path):
    """From the file headers, before the network trains on the set."""
    from artforge.artifacts import ImageSet
    from artforge.errors import DataError
    from artforge.images import save_png
    from artforge.sr_step import check_evaluate_sizes

    save_png(tmp_path / "big.png", np.zeros((32, 32, 3), np.uint8))
    save_png(tmp_path / "tiny.png", np.zeros((7, 40, 3), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")  # load_image reports it later
    check_evaluate_sizes(ImageSet(tmp_path, ["big.png", "broken.png"]), 4)
    with pytest.raises(DataError, match=r"tiny: too small to downscale by 2 .*40x7"):
        check_evaluate_sizes(ImageSet(tmp_path, ["big.png", "tiny.png"]), 2)
