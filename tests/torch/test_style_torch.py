"""Style-transfer optimisers (PyTorch backend): Gatys optimisation, coarse-to-fine levels,
colour preservation and the feed-forward network's training and round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")


class Ctx:
    """The parts of StepContext that building a loss network uses."""

    def __init__(self, tmp_path):
        self.info, self.warnings, self.logs = {}, [], []
        self.recipe_dir = tmp_path

    def warn(self, msg):
        self.warnings.append(msg)

    def log(self, msg):
        self.logs.append(msg)

    def resolve_path(self, p):
        from pathlib import Path

        p = Path(p)
        return p if p.is_absolute() else self.recipe_dir / p


@pytest.fixture
def loss_net(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # no cached VGG19 weights
    from artforge_torch.style.loss_net import RANDOM_DESC

    ctx = Ctx(tmp_path)
    net = build_loss_network(ctx, "auto", None, None, None, seed=0)
    assert net.kind == "random" and ctx.info["feature_network"] == RANDOM_DESC
    assert any("random multi-scale" in w for w in ctx.warnings)
    return net


def build_loss_network(ctx, features, vgg_weights, content_layers, style_layers, seed):
    """The core's choice of loss network with the torch runtime on the CPU."""
    from types import SimpleNamespace

    from artforge.style.features import build_loss_network as build
    from artforge_torch.style.runtime import TorchStyleRuntime

    p = SimpleNamespace(
        features=features,
        vgg_weights=vgg_weights,
        content_layers=content_layers,
        style_layers=style_layers,
    )
    return build(ctx, p, TorchStyleRuntime("cpu"), seed)


def pictures(size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    content = torch.stack([xx, yy, 0.5 * (xx + yy)]).unsqueeze(0)
    content = (content + 0.05 * torch.rand(content.shape, generator=g)).clamp(0, 1)
    stripes = (torch.sin(xx * 40) > 0).float()
    style = torch.stack([stripes, 1 - stripes, 0.3 * torch.ones_like(xx)]).unsqueeze(0)
    return content, style


def test_one_optimisation_step_lowers_the_total_loss(loss_net):
    from artforge_torch.style.gatys import GatysOptimiser

    content, style = pictures()
    for optimiser in ("lbfgs", "adam"):
        opt = GatysOptimiser(loss_net, style_weight=10.0, tv_weight=1.0, optimiser=optimiser)
        ct, st = loss_net.content_targets(content), loss_net.style_targets(style)
        before = opt.evaluate(content, ct, st)
        x = opt.optimise(content, ct, st, steps=1)
        after = opt.evaluate(x, ct, st)
        assert before.content == 0.0 and before.style > 0
        assert after.total < before.total, optimiser
        assert not torch.equal(x, content)


def test_gatys_removes_most_of_the_style_loss_within_the_content_bound(loss_net):
    from artforge_torch.style.gatys import GatysOptimiser

    content, style = pictures()
    opt = GatysOptimiser(loss_net, style_weight=10.0, tv_weight=0.1, steps=40, scales=1)
    seen = []
    res = opt.stylize(content, style, on_eval=lambda n, lvl, losses: seen.append(losses))
    assert res.image.shape == content.shape
    assert float(res.image.min()) >= 0.0 and float(res.image.max()) <= 1.0
    assert res.evaluations == len(seen) == 40 and [h["eval"] for h in res.history][-1] == 40
    assert res.reference.content == 0.0
    assert res.style_loss_drop > 0.9
    f = res.final
    assert res.content_bound == pytest.approx(res.reference.total - 10.0 * f.style - 0.1 * f.tv)
    assert 0 < f.content <= res.content_bound
    assert res.final.total < res.reference.total


def test_coarse_to_fine_levels(loss_net):
    from artforge_torch.style.gatys import GatysOptimiser, auto_levels

    assert auto_levels(200, 150) == 1
    assert auto_levels(512, 512) == 2
    assert auto_levels(1024, 768) == 3
    assert auto_levels(2000, 40) == 1  # never below 32 pixels on the short side
    content, style = pictures(48)
    res = GatysOptimiser(loss_net, steps=3, scales=2).stylize(content, style)
    assert res.levels == [(24, 24), (48, 48)]
    assert {h["level"] for h in res.history} == {0, 1} and res.evaluations == 6
    assert res.image.shape == (1, 3, 48, 48)


def test_colour_preservation_keeps_the_content_chrominance(loss_net):
    from artforge_torch.style import color
    from artforge_torch.style.gatys import GatysOptimiser

    content, style = pictures()
    yiq = color.rgb_to_yiq(content)
    assert torch.allclose(color.yiq_to_rgb(yiq), content, atol=1e-5)
    res = GatysOptimiser(loss_net, steps=5, preserve_color=True, style_weight=10.0).stylize(
        content, style
    )
    out = color.rgb_to_yiq(res.image)
    inside = (res.image > 0.01) & (res.image < 0.99)  # not clipped
    mask = inside.all(1, keepdim=True)
    assert mask.float().mean() > 0.8
    diff = (out[:, 1:] - yiq[:, 1:]).abs()[mask.expand(-1, 2, -1, -1)]
    assert float(diff.max()) < 1e-4
    assert float((out[:, :1] - yiq[:, :1]).abs().mean()) > 1e-3  # the luminance did change


def test_luminance_matching():
    from artforge_torch.style import color

    a = torch.rand(1, 1, 20, 20) * 0.2 + 0.7
    b = torch.rand(1, 1, 20, 20) * 0.4 + 0.3
    m = color.match_luminance(a, b)
    assert float(m.mean()) == pytest.approx(float(b.mean()), abs=1e-4)
    assert float(m.std()) == pytest.approx(float(b.std()), abs=1e-3)


def test_feed_forward_training_and_round_trip(loss_net, tmp_path):
    from artforge_torch.style.feedforward import (
        ARCH,
        load_transformer,
        stylize_image,
        train_transformer,
    )
    from artforge_torch.style.util import save_safetensors, to_image

    content, style = pictures(40)
    images = [to_image(content), to_image(pictures(40, seed=1)[0])]
    seen = []
    net, stats = train_transformer(
        loss_net,
        style,
        images,
        steps=4,
        batch_size=2,
        size=32,
        config={"width": 8},
        on_step=lambda *a: seen.append(a),
        log_every=2,
    )
    assert stats.steps == 4 and [s[0] for s in seen] == [2, 4]
    assert all(math.isfinite(v) for v in (stats.content, stats.style, stats.tv))
    odd = np.random.default_rng(0).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    out = stylize_image(net, odd, "cpu")
    assert out.shape == odd.shape and out.dtype == np.uint8
    path = tmp_path / "net.safetensors"
    save_safetensors(path, net.state_dict(), {"arch": ARCH, "config": net.config})
    again, meta = load_transformer(path, "test", "cpu")
    assert meta["arch"] == ARCH
    assert np.array_equal(stylize_image(again, odd, "cpu"), out)


def test_loss_network_layer_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    from artforge.errors import StepError

    ctx = Ctx(tmp_path)
    with pytest.raises(StepError, match="needs VGG19 ImageNet weights"):
        build_loss_network(ctx, "vgg19", None, None, None, 0)
    with pytest.raises(StepError, match="weight file not found"):
        build_loss_network(ctx, "vgg19", "missing.pth", None, None, 0)
    with pytest.raises(StepError, match="has no layer 'conv9_9'"):
        build_loss_network(ctx, "random", None, ["conv9_9"], None, 0)
