"""The Keras backend's ``sample`` step and its DCGAN sample-quality curves: same outputs as
the torch step, deterministic per seed, a looping GIF of the requested frames, and a
generator trained by the torch backend gives the same images here (converted weights)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.keras
pytest.importorskip("keras")

from artforge.errors import StepError  # noqa: E402
from artforge.schemas.gan import SampleParams  # noqa: E402
from tests.helpers_gan import dcgan_params, step_context  # noqa: E402
from tests.helpers_gan import labelled_set as _labelled_set  # noqa: E402


def _ctx(tmp_path, arts, step_id="sample", seed=0):
    return step_context(tmp_path, "keras", lambda ref: arts[ref], step_id=step_id, seed=seed)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny cdcgan trained for two epochs with eval_data (sample-quality curves)."""
    from artforge_keras.gan_steps import train_gan

    root = tmp_path_factory.mktemp("train")
    images = _labelled_set(root / "data")
    ctx = _ctx(root, {"${d.images}": images}, step_id="train")
    p = dcgan_params(eval_data="${d.images}", eval_samples=20, batch_size=8)
    out = train_gan(ctx, p)
    return ctx, out, images


def test_quality_curves_during_training(trained):
    ctx, out, _ = trained
    assert {"frechet", "class_accuracy", "coverage_entropy"} <= set(ctx.series)
    assert [x for x, _ in ctx.series["frechet"]] == [1.0, 2.0]
    assert ctx.info["series_x"]["class_accuracy"] == "epoch"
    assert {"final_frechet", "first_frechet", "real_frechet"} <= set(ctx.metrics)


def test_sample_is_deterministic_and_the_gif_has_the_frames(trained, tmp_path):
    from PIL import Image

    from artforge_keras.sample import sample

    _, out, images = trained
    arts = {"${t.generator}": out["generator"], "${d.holdout}": images}
    p = SampleParams(
        model="${t.generator}",
        n=8,
        classes=["vertical"],
        walk_points=3,
        walk_frames=2,
        reference="${d.holdout}",
    )
    a = sample(_ctx(tmp_path / "a", arts, seed=3), p)
    ctx_b = _ctx(tmp_path / "b", arts, seed=3)
    b = sample(ctx_b, p)
    assert a["images"].labels == [1] * 8 and a["images"].names[0] == "vertical_0001"
    for pa, pb in zip(a["images"].paths, b["images"].paths):
        assert pa.read_bytes() == pb.read_bytes()
    gif_a, gif_b = (o["walk"].root / "walk.gif" for o in (a, b))
    assert gif_a.read_bytes() == gif_b.read_bytes()
    with Image.open(gif_a) as gif:
        assert gif.n_frames == 6 and gif.info.get("loop") == 0
    assert a["grid"].load(0).shape[0] == 32 + 2 * 2  # one requested class: one row
    assert {"frechet", "class_accuracy", "real_frechet"} <= set(ctx_b.metrics)


def test_inception_weights_warn_on_keras(trained, tmp_path):
    from artforge_keras.sample import sample

    _, out, images = trained
    arts = {"${t.generator}": out["generator"], "${d.holdout}": images}
    p = SampleParams(
        model="${t.generator}",
        n=4,
        walk_points=2,
        walk_frames=1,
        reference="${d.holdout}",
        inception_weights="x.pth",
    )
    ctx = _ctx(tmp_path, arts)
    sample(ctx, p)
    assert any("needs the PyTorch" in w for w in ctx.warnings) and "fid" not in ctx.metrics


def test_a_torch_generator_samples_the_same_images_here(tmp_path):
    pytest.importorskip("torch")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "torch"))
    from test_sample import make_generator

    from artforge_keras.sample import sample as keras_sample
    from artforge_torch.sample import sample as torch_sample

    gen = make_generator(tmp_path / "g")
    arts = {"${t.generator}": gen}
    p = SampleParams(model="${t.generator}", n=6, walk_points=2, walk_frames=2)
    k = keras_sample(_ctx(tmp_path / "k", arts), p)
    t = torch_sample(_ctx(tmp_path / "t", arts), p)
    for i in range(6):
        diff = np.abs(k["images"].load(i).astype(int) - t["images"].load(i).astype(int))
        assert diff.max() <= 2, i
    with pytest.raises(StepError, match="dcgan"):
        keras_sample(
            _ctx(
                tmp_path / "u",
                {"${t.generator}": type(gen)(gen.root, gen.file, {**gen.meta, "arch": "unet"})},
            ),
            p,
        )
