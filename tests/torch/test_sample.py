"""The ``sample`` step (torch) and the backend-free sampling helpers: slerp latent walks,
classes by index or name, per-class grids, a looping GIF, determinism, scores vs real images."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.artifacts import ImageSet, ModelArtifact  # noqa: E402
from artforge.errors import StepError  # noqa: E402
from artforge.images import save_png  # noqa: E402
from artforge.sampling import balanced_labels, latent_walk, resolve_classes, slerp  # noqa: E402
from artforge.schemas.gan import SampleParams  # noqa: E402
from tests.helpers_gan import step_context  # noqa: E402


def make_generator(root, n_classes=3, nz=8, size=32, seed=0):
    """A freshly initialised (untrained) generator exported like train-gan exports one."""
    from artforge_torch.dcgan import generator_kwargs
    from artforge_torch.nets.dcgan import DCGANGenerator
    from artforge_torch.nets.init import init_weights
    from artforge_torch.training.checkpoint import export_safetensors

    class P:
        pass

    p = P()
    p.nz, p.ngf, p.image_size = nz, 8, size
    kwargs = generator_kwargs(p, n_classes)
    torch.manual_seed(seed)
    g = init_weights(DCGANGenerator(**kwargs))
    with torch.no_grad():  # a few batches in train mode: BatchNorm statistics that are not 0/1
        g.train()
        for _ in range(3):
            y = torch.randint(0, n_classes, (16,)) if n_classes else None
            g(torch.randn(16, nz), y)
    root.mkdir(parents=True, exist_ok=True)
    export_safetensors(root / "generator.safetensors", g.eval())
    meta = {
        "backend": "torch",
        "model": "cdcgan" if n_classes else "dcgan",
        "arch": "dcgan",
        "kwargs": kwargs,
        "image_size": size,
        "nz": nz,
        "n_classes": n_classes,
        "ema": False,
    }
    if n_classes:
        meta["classes"] = ["zero", "one", "two"][:n_classes]
    return ModelArtifact(root, "generator.safetensors", meta)


def labelled_set(root, n=24, size=32, k=3):
    rng = np.random.default_rng(0)
    files, labels = [], []
    for i in range(n):
        c = i % k
        img = np.zeros((size, size, 3), np.uint8)
        img[:, c * size // k : (c + 1) * size // k] = 200
        img = np.clip(img.astype(int) + rng.integers(0, 40, img.shape), 0, 255).astype(np.uint8)
        save_png(root / f"r{i:03d}.png", img)
        files.append(f"r{i:03d}.png")
        labels.append(c)
    return ImageSet(root, files, labels, {"classes": ["zero", "one", "two"][:k]})


def ctx_for(tmp_path, arts, seed=0, backend="torch"):
    return step_context(tmp_path, backend, lambda ref: arts[ref], step_id="sample", seed=seed)


def run_sample(tmp_path, arts, seed=0, **kw):
    from artforge_torch.sample import sample

    ctx = ctx_for(tmp_path, arts, seed)
    p = SampleParams(model="${train.generator}", **kw)
    return ctx, sample(ctx, p)


def test_slerp_endpoints_norm_and_closed_walk():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-5)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-5)
    # orthogonal unit vectors: every interpolate stays on the unit sphere
    e1, e2 = np.eye(8)[0], np.eye(8)[1]
    mids = slerp(e1, e2, np.linspace(0, 1, 7))
    np.testing.assert_allclose(np.linalg.norm(mids, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(slerp(e1, e1, 0.5), e1, atol=1e-6)  # parallel: no NaN
    walk = latent_walk(3, points=4, frames=5, nz=16)
    assert walk.shape == (20, 16) and walk.dtype == np.float32
    np.testing.assert_array_equal(walk, latent_walk(3, 4, 5, 16))
    # a closed loop: the step from the last frame back to the first is an ordinary step
    steps = np.linalg.norm(np.diff(np.concatenate([walk, walk[:1]]), axis=0), axis=1)
    assert steps.max() < 3 * np.median(steps)


def test_classes_by_index_or_name_and_balanced_labels():
    assert resolve_classes(None, 3, ["a", "b", "c"]) == [0, 1, 2]
    assert resolve_classes(["c", 0, "1"], 3, ["a", "b", "c"]) == [2, 0, 1]
    with pytest.raises(StepError, match="unknown class"):
        resolve_classes(["z"], 3, ["a", "b", "c"])
    with pytest.raises(StepError, match="out of range"):
        resolve_classes([5], 3, [])
    with pytest.raises(StepError, match="class-conditional"):
        resolve_classes([0], 0, [])
    assert balanced_labels([2, 0], 5).tolist() == [2, 2, 2, 0, 0]


def test_sample_outputs_gif_frames_and_per_class_grid(tmp_path):
    from PIL import Image

    gen = make_generator(tmp_path / "g")
    ctx, out = run_sample(
        tmp_path / "a",
        {"${train.generator}": gen},
        n=12,
        classes=["two", 0],
        walk_points=3,
        walk_frames=4,
    )
    images = out["images"]
    assert len(images) == 12 and images.labels == [2] * 6 + [0] * 6
    assert images.names[0] == "two_0001" and images.meta["classes"] == ["zero", "one", "two"]
    grid = out["grid"].load(0)
    assert grid.shape == (2 * 32 + 3 * 2, 6 * 32 + 7 * 2, 3)  # one row per requested class
    walk = out["walk"]
    assert walk.files == ["walk_strip.png", "walk.gif"] and walk.meta["frames"] == 12
    assert walk.load(0).shape == (2 * 32, 12 * 32, 3)  # one row per class, a column per frame
    with Image.open(walk.root / "walk.gif") as gif:
        assert gif.n_frames == 12 and gif.info.get("loop") == 0
    assert ctx.metrics["images"] == 12 and ctx.metrics["walk_frames"] == 12


def test_sample_is_deterministic_per_seed(tmp_path):
    gen = make_generator(tmp_path / "g")
    arts = {"${train.generator}": gen}
    kw = dict(n=6, walk_points=2, walk_frames=3)
    _, a = run_sample(tmp_path / "a", arts, seed=1, **kw)
    _, b = run_sample(tmp_path / "b", arts, seed=1, **kw)
    _, c = run_sample(tmp_path / "c", arts, seed=2, **kw)
    for i in range(6):
        assert a["images"].paths[i].read_bytes() == b["images"].paths[i].read_bytes()
    gif = [o["walk"].root / "walk.gif" for o in (a, b, c)]
    assert gif[0].read_bytes() == gif[1].read_bytes() != gif[2].read_bytes()
    assert not np.array_equal(a["images"].load(0), c["images"].load(0))


def test_unconditional_model_and_scores_against_real_images(tmp_path):
    from PIL import Image

    gen = make_generator(tmp_path / "g", n_classes=0)
    real = labelled_set(tmp_path / "real")
    arts = {"${train.generator}": gen, "${d.holdout}": real}
    ctx, out = run_sample(
        tmp_path / "a", arts, n=10, walk_points=2, walk_frames=20, reference="${d.holdout}"
    )
    assert out["images"].labels is None and len(out["images"]) == 10
    with Image.open(out["walk"].root / "walk.gif") as gif:
        assert gif.n_frames == 40  # more frames than pixels across the bar: still all kept
    m = ctx.metrics
    assert {"frechet", "coverage_entropy", "confidence", "classifier_score"} <= set(m)
    assert {"real_frechet", "real_coverage_entropy"} <= set(m) and "class_accuracy" not in m
    assert m["frechet"] >= 0 and 0 <= m["coverage_entropy"] <= 1
    with pytest.raises(StepError, match="class-conditional"):
        run_sample(tmp_path / "b", arts, n=4, classes=[0])


def test_conditional_scores_report_class_accuracy(tmp_path):
    gen = make_generator(tmp_path / "g")
    real = labelled_set(tmp_path / "real")
    arts = {"${train.generator}": gen, "${d.holdout}": real}
    ctx, _ = run_sample(
        tmp_path / "a", arts, n=30, walk_points=2, walk_frames=2, reference="${d.holdout}"
    )
    m = ctx.metrics
    assert 0 <= m["class_accuracy"] <= 1 and 0 <= m["real_class_accuracy"] <= 1
    assert "frechet_at_12" in m  # the reference's held-out half has 12 images: also at that count
    assert "classifier fitted on half" in ctx.info["scores"]


def test_sample_refuses_other_models_and_missing_inception_weights(tmp_path):
    gen = make_generator(tmp_path / "g")
    unet = ModelArtifact(gen.root, gen.file, {**gen.meta, "arch": "unet"})
    with pytest.raises(StepError, match="dcgan"):
        run_sample(tmp_path / "a", {"${train.generator}": unet}, n=2)
    keras_model = ModelArtifact(gen.root, gen.file, {**gen.meta, "backend": "keras"})
    with pytest.raises(StepError, match="keras"):
        run_sample(tmp_path / "b", {"${train.generator}": keras_model}, n=2)
    with pytest.raises(ValueError, match="reference"):
        SampleParams(model="${t.generator}", inception_weights="x.pth")
    real = labelled_set(tmp_path / "real")
    arts = {"${train.generator}": gen, "${d.holdout}": real}
    with pytest.raises(StepError, match="Inception"):
        run_sample(
            tmp_path / "c",
            arts,
            n=4,
            walk_points=2,
            walk_frames=1,
            reference="${d.holdout}",
            inception_weights=str(tmp_path / "missing.pth"),
        )


def test_gif_bytes_are_a_pure_function_of_the_frames():
    from artforge.sampling import gif_bytes, gif_frames

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (5, 2, 16, 16, 3), dtype=np.uint8)
    frames[2] = frames[1]  # identical consecutive walk frames stay two GIF frames
    pics = gif_frames(frames)
    assert len(pics) == 5 and pics[0].shape[1] >= 2 * 16
    data = gif_bytes(pics, 10)
    assert data == gif_bytes(gif_frames(frames.copy()), 10)
    from PIL import Image

    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == 5


# -- a generator registered by a plugin (register_models), sampled with random weights --------
class Stripes(torch.nn.Module):
    """A tiny registered generator: z (N, nz) -> (N, 1, S, S) in [-1, 1] (grey: stored as RGB)."""

    def __init__(self, nz: int = 4, image_size: int = 16):
        super().__init__()
        self.nz, self.image_size = nz, image_size
        self.fc = torch.nn.Linear(nz, image_size * image_size)

    def forward(self, z):
        return torch.tanh(self.fc(z)).reshape(len(z), 1, self.image_size, self.image_size)


class NotSamplable(torch.nn.Module):
    def forward(self, z):
        return z


def registry_with_generators():
    from artforge.registry import Component, Registry

    reg = Registry()
    reg.add_component(Component("generator", "stripes", Stripes, backend="torch"), "mine")
    reg.add_component(Component("generator", "opaque", NotSamplable, backend="torch"), "mine")
    reg.add_component(Component("generator", "kgen", Stripes, backend="keras"), "mine")
    return reg


def run_registered(tmp_path, seed=0, backend="torch", **kw):
    from artforge_torch.sample import sample

    ctx = ctx_for(tmp_path, {}, seed, backend)
    ctx.registry = registry_with_generators()
    return ctx, sample(ctx, SampleParams(**kw))


def test_sample_draws_from_a_registered_generator_with_seeded_weights(tmp_path):
    from PIL import Image

    kw = dict(generator="stripes", options={"nz": 4, "image_size": 16}, n=5, walk_points=3)
    kw["walk_frames"] = 2
    ctx, a = run_registered(tmp_path / "a", seed=1, **kw)
    _, b = run_registered(tmp_path / "b", seed=1, **kw)
    _, c = run_registered(tmp_path / "c", seed=2, **kw)
    img = a["images"].load(0)
    assert img.shape == (16, 16, 3) and (img[..., 0] == img[..., 2]).all()  # grey as RGB
    assert [p.read_bytes() for p in a["images"].paths] == [p.read_bytes() for p in b["images"].paths]
    assert not np.array_equal(img, c["images"].load(0))  # other seed: other weights and z
    with Image.open(a["walk"].root / "walk.gif") as gif:
        assert gif.n_frames == 3 * 2
    assert ctx.info["generator"] == "stripes (registered, random weights)"


def test_registered_generator_errors_name_the_problem(tmp_path):
    with pytest.raises(StepError, match="unknown generator 'stripe'.*stripes"):
        run_registered(tmp_path / "a", generator="stripe", n=2)
    with pytest.raises(StepError, match="does not accept options"):
        run_registered(tmp_path / "b", generator="stripes", options={"depth": 3}, n=2)
    with pytest.raises(StepError, match="nz and image_size"):
        run_registered(tmp_path / "c", generator="opaque", n=2)
    with pytest.raises(StepError) as err:
        run_registered(tmp_path / "d", generator="kgen", n=2)
    assert "backend keras" in err.value.hint
    with pytest.raises(ValueError, match="not both"):
        SampleParams(model="${t.generator}", generator="stripes")
    with pytest.raises(ValueError, match="registered generator"):
        SampleParams(n=3)
    with pytest.raises(ValueError, match="options"):
        SampleParams(model="${t.generator}", options={"nz": 3})
