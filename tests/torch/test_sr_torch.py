"""Super-resolution building blocks: degradation, Y-channel scores, pair sampling, tiled
inference and the training loop (PyTorch backend)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.errors import DataError, Diverged  # noqa: E402
from artforge.sr_baselines import (  # noqa: E402
    degrade,
    downscale,
    modcrop,
    random_pair,
    rgb_to_y,
    upscale,
    y_psnr,
    y_ssim,
)


def smooth_image(h: int = 96, w: int = 80, seed: int = 0) -> np.ndarray:
    """A photo-like test image: smooth gradients plus some texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack(
        [
            128 + 90 * np.sin(xx / 9.0 + c) * np.cos(yy / 13.0 - c) + rng.normal(0, 8, (h, w))
            for c in range(3)
        ],
        axis=-1,
    )
    return np.clip(base, 0, 255).astype(np.uint8)


# -- degradation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_degrade_shapes_ranges_and_plain_bicubic(scale):
    hr = smooth_image(97, 83)
    rng = np.random.default_rng(1)
    lr = degrade(hr, scale, rng)
    assert lr.shape == (97 // scale, 83 // scale, 3) and lr.dtype == np.uint8
    # without blur, noise or JPEG it is exactly the bicubic downscale of the mod-cropped image
    assert np.array_equal(lr, downscale(hr, scale))
    assert np.array_equal(downscale(hr, scale), downscale(modcrop(hr, scale), scale))
    heavy = degrade(hr, scale, rng, blur=2.0, noise=20.0, jpeg=10)
    assert heavy.shape == lr.shape and heavy.dtype == np.uint8
    assert heavy.min() >= 0 and heavy.max() <= 255
    assert np.abs(heavy.astype(int) - lr.astype(int)).mean() > 1.0


def test_degrade_noise_level_and_blur_strength():
    hr = np.full((64, 64, 3), 128, np.uint8)
    # noise std is drawn from [0, noise]: over many draws the average std is about noise / 2
    rng = np.random.default_rng(0)
    stds = [degrade(hr, 2, rng, noise=20.0).astype(float).std() for _ in range(40)]
    assert 7.0 < np.mean(stds) < 13.0
    # blur removes high frequencies: a checkerboard at half the LR Nyquist almost vanishes
    checker = ((np.indices((64, 64)).sum(0) // 4) % 2 * 255).astype(np.uint8)
    checker = np.repeat(checker[..., None], 3, -1)
    sharp = degrade(checker, 2, np.random.default_rng(0)).astype(float).std()
    blurred = [degrade(checker, 2, np.random.default_rng(s), blur=5.0) for s in range(5)]
    assert min(b.astype(float).std() for b in blurred) < sharp


def _locate(patch: np.ndarray, image: np.ndarray) -> tuple[int, int]:
    h, w = patch.shape[:2]
    for t in range(image.shape[0] - h + 1):
        for left in range(image.shape[1] - w + 1):
            if np.array_equal(image[t : t + h, left : left + w], patch):
                return t, left
    raise AssertionError("patch not found in the image")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_random_pair_is_aligned(scale):
    hr = smooth_image(120, 110, seed=scale)
    whole = downscale(hr, scale)
    rng = np.random.default_rng(3)
    p = 48 - 48 % scale
    for _ in range(3):
        lo, hi = random_pair(hr, scale, 48, rng, augment=False)
        assert hi.shape == (p, p, 3) and lo.shape == (p // scale, p // scale, 3)
        top, left = _locate(hi, hr)
        assert top % scale == 0 and left % scale == 0
        # the low-resolution patch is exactly the matching part of the whole image's bicubic
        # downscale: the degradation ran with enough margin that the patch borders match too
        t, lf = top // scale, left // scale
        assert np.array_equal(lo, whole[t : t + p // scale, lf : lf + p // scale])
    lo, hi = random_pair(hr, scale, 48, rng, augment=True, noise=5.0, jpeg=50)
    assert lo.shape == (p // scale, p // scale, 3) and hi.dtype == lo.dtype == np.uint8


# -- scores ---------------------------------------------------------------------------------------
def test_y_channel_psnr_and_ssim():
    assert rgb_to_y(np.zeros((1, 1, 3), np.uint8))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)
    a = np.full((20, 20, 3), 100, np.uint8)
    b = a.copy()
    b[2:-2, 2:-2] += 10  # inside the shaved border: every scored pixel is off by 10*219/255 in Y
    d = 10 * 219 / 255
    assert y_psnr(b, a, scale=2) == pytest.approx(20 * np.log10(255 / d), abs=1e-9)
    # the border is shaved: a difference there alone does not count
    c = a.copy()
    c[0, :] = 0
    assert y_psnr(c, a, scale=1) == float("inf")
    img = smooth_image()
    assert y_ssim(img, img, 2) == pytest.approx(1.0)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 20, img.shape), 0, 255).astype(
        np.uint8
    )
    assert 0.0 < y_ssim(noisy, img, 2) < 0.9
    with pytest.raises(ValueError):
        y_psnr(img[:-2], img, 2)


def test_baseline_upscale_sizes():
    lo = smooth_image(10, 7)
    for method in ("nearest", "bicubic", "lanczos"):
        up = upscale(lo, 3, method)
        assert up.shape == (30, 21, 3) and up.dtype == np.uint8
    assert np.array_equal(upscale(lo, 2, "nearest")[::2, ::2], lo)


# -- sampling ----------------------------------------------------------------------------------------
def test_pair_sampler_and_zero_shot_fathers():
    from artforge.sr_train import PairSampler, zero_shot_fathers

    images = [smooth_image(70, 90, 0), smooth_image(130, 100, 1)]
    s = PairSampler(images, 3, 50, seed=0, noise=3.0)
    lo, hi = s.batch(0, 5)
    assert lo.shape == (5, 16, 16, 3) and hi.shape == (5, 48, 48, 3)
    # batch i is a pure function of (seed, i): the same again, another index differs
    assert all(np.array_equal(x, y) for x, y in zip(s.batch(7, 2), s.batch(7, 2)))
    assert not np.array_equal(s.batch(7, 2)[1], s.batch(8, 2)[1])
    assert not np.array_equal(PairSampler(images, 3, 50, seed=1).batch(7, 2)[1], s.batch(7, 2)[1])
    # prefetched batches are the same batches, in order, from any start
    ahead = list(s.batches(3, 6, 2, prefetch=2))
    assert len(ahead) == 3
    for k, (x, y) in enumerate(ahead, 3):
        assert np.array_equal(x, s.batch(k, 2)[0]) and np.array_equal(y, s.batch(k, 2)[1])
    # patches larger than the smallest image shrink to fit
    assert PairSampler(images, 2, 500, seed=0).patch == 70
    with pytest.raises(DataError):
        PairSampler([smooth_image(5, 5)], 4, 64, seed=0)

    fathers, weights = zero_shot_fathers(smooth_image(64, 48), 2, min_size=24)
    assert fathers[0].shape == (64, 48, 3)
    assert [f.shape[:2] for f in fathers][1] == (58, 43)
    assert min(min(f.shape[:2]) for f in fathers) >= 24 and weights == sorted(weights)[::-1]
    with pytest.raises(DataError):
        zero_shot_fathers(smooth_image(8, 8), 4, min_size=16)


def test_prefetching_hands_on_an_error_and_stops_when_the_consumer_stops():
    from artforge.sr_train import PairSampler

    s = PairSampler([smooth_image(40, 40)], 2, 16, seed=0)
    it = s.batches(0, 1000, 2, prefetch=2)
    next(it)
    it.close()  # the loop stopped early (max_minutes): the worker thread ends
    import threading

    assert not [t for t in threading.enumerate() if t.name == "sr-batches"]

    class Broken(PairSampler):
        def batch(self, index, size):
            if index == 2:
                raise ValueError("bad patch")
            return super().batch(index, size)

    b = Broken([smooth_image(40, 40)], 2, 16, seed=0)
    with pytest.raises(ValueError, match="bad patch"):
        list(b.batches(0, 5, 2))


def test_cosine_lr_matches_torch_cosine_annealing():
    from artforge.sr_train import cosine_lr

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=30, eta_min=0.001)
    for step in range(30):
        assert cosine_lr(0.1, step, 30) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()


# -- tiled inference ----------------------------------------------------------------------------------
def _conv_stack(radius: int, scale: int) -> torch.nn.Module:
    """A network with a known receptive-field radius (3x3 convolutions) and pixel shuffle."""
    torch.manual_seed(0)
    layers = []
    for _ in range(radius):
        layers += [torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Tanh()]
    layers += [torch.nn.Conv2d(3, 3 * scale * scale, 1), torch.nn.PixelShuffle(scale)]
    return torch.nn.Sequential(*layers).eval()


def test_tiled_matches_untiled_only_with_enough_overlap():
    from artforge.sr_learned import tiled_forward
    from artforge_torch.sr.runtime import forward_fn
    from artforge_torch.sr.tiled import receptive_radius

    net = _conv_stack(radius=5, scale=2)
    assert receptive_radius(net, scale=2) == 5
    fn = forward_fn(net)
    x = np.random.default_rng(0).random((1, 45, 38, 3), dtype=np.float32)
    whole = fn(x)
    exact = tiled_forward(fn, x, 2, tile=16, overlap=5)
    short = tiled_forward(fn, x, 2, tile=16, overlap=2)
    assert exact.shape == whole.shape == (1, 90, 76, 3)
    np.testing.assert_allclose(exact, whole, atol=1e-6)
    assert not np.allclose(short, whole, atol=1e-3)  # too little context shows at the seams


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_tiled_equals_untiled_for_espcn_and_srresnet(scale):
    from artforge.sr_learned import tiled_forward
    from artforge_torch.sr.runtime import build_net, forward_fn
    from artforge_torch.sr.tiled import conv_radius, receptive_radius

    x = np.random.default_rng(scale).random((1, 37, 29, 3), dtype=np.float32)
    # the paper's ESPCN; an SRResNet with fewer, narrower blocks (same layer types) for speed
    for arch, config, tile in (
        ("espcn", None, 12),
        ("srresnet", {"n_blocks": 3, "features": 16}, 16),
    ):
        torch.manual_seed(0)
        net = build_net(arch, scale, config).eval()
        radius = receptive_radius(net, size=40, scale=scale)
        assert 0 < radius <= conv_radius(net) <= radius + 2  # the bound the step uses
        fn = forward_fn(net)
        whole = fn(x)
        tiled = tiled_forward(fn, x, scale, tile=tile, overlap=radius)
        seams = tiled_forward(fn, x, scale, tile=tile, overlap=radius // 2)
        assert whole.shape == (1, 37 * scale, 29 * scale, 3)
        np.testing.assert_allclose(tiled, whole, atol=1e-5, err_msg=arch)
        assert not np.allclose(seams, whole, atol=1e-5), arch


# -- training --------------------------------------------------------------------------------------------
def _session(net, **kw):
    from artforge_torch.sr.runtime import Session

    args = {"loss": "l1", "ema_decay": None, "perceptual": None, "weight": 0.0, **kw}
    return Session(net, "cpu", **args)


def test_train_sr_lowers_the_loss_and_resumes(tmp_path):
    from artforge.sr_train import PairSampler, ema_decay_for, train_sr
    from artforge_torch.sr.runtime import build_net

    sampler = PairSampler([smooth_image(96, 96)], 2, 32, seed=0)
    net = build_net("espcn", 2)
    curve = []
    res = train_sr(
        _session(net, ema_decay=ema_decay_for(60)),
        sampler,
        steps=60,
        batch_size=8,
        lr=2e-3,
        record=lambda name, x, y: curve.append(y),
        log_every=5,
        state_path=tmp_path / "state.pt",
        save_every=0.0,
    )
    assert res.steps == 60 and len(curve) == 12
    assert curve[-1] < 0.5 * curve[0]
    # an interrupted step resumes from the saved state instead of starting again
    again = build_net("espcn", 2)
    session = _session(again, ema_decay=ema_decay_for(60))
    res2 = train_sr(session, sampler, steps=60, state_path=tmp_path / "state.pt")
    assert res2.resumed_from == 60
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)  # the averaged weights the first run ended with


def test_a_resumed_run_continues_exactly(tmp_path):
    """Stopped after 4 steps and resumed: the same weights as 8 steps in one go (the batches
    are a function of the step, the state holds Adam's moments)."""
    from artforge.sr_train import PairSampler, train_sr
    from artforge_torch.sr.runtime import build_net

    sampler = PairSampler([smooth_image(64, 64)], 2, 16, seed=0)
    torch.manual_seed(0)
    whole = build_net("espcn", 2, {"features": 8})
    part = build_net("espcn", 2, {"features": 8})
    part.load_state_dict(whole.state_dict())
    kw = {"batch_size": 2, "lr": 1e-3}
    train_sr(_session(whole), sampler, steps=8, **kw)
    path = tmp_path / "s.pt"
    stopped = train_sr(
        _session(part), sampler, steps=8, state_path=path, save_every=0.0, max_seconds=0.0, **kw
    )
    assert stopped.steps == 1 and stopped.stopped_early
    resumed = build_net("espcn", 2, {"features": 8})
    train_sr(_session(resumed), sampler, steps=8, state_path=path, **kw)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_train_sr_stops_on_a_non_finite_loss():
    from artforge.sr_train import PairSampler, train_sr

    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2) * self.w * float("nan")

    with pytest.raises(Diverged, match="diverged at step 1"):
        train_sr(
            _session(Broken()), PairSampler([smooth_image()], 2, 16, seed=0), steps=5, batch_size=2
        )
