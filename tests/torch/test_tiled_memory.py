"""Bounded memory of tiled inference (PyTorch backend): super-resolution and translate
store each tile (row) as uint8 in a preallocated result instead of a full-size float buffer,
with results equal to the full-size float path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from artforge.sr_learned import tiled_forward, tiled_to_image, to_image  # noqa: E402
from artforge_torch.data import to_uint8_images  # noqa: E402
from artforge_torch.gan_steps import run_tiled, translate_tiled  # noqa: E402
from artforge_torch.nets.init import init_weights  # noqa: E402
from artforge_torch.nets.pix2pix import UNetGenerator  # noqa: E402
from artforge_torch.sr.runtime import forward_fn  # noqa: E402

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _tiny_sr() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Conv2d(8, 12, 3, padding=1),
        torch.nn.PixelShuffle(2),
    ).eval()


def _tiny_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return init_weights(UNetGenerator(3, 3, 64, ngf=4)).eval()


def _image(h: int, w: int, n: int | None = None, seed: int = 0) -> np.ndarray:
    shape = (h, w, 3) if n is None else (n, h, w, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _reference_run_tiled(net, x, tile, overlap, multiple):
    """The blend with full-size float buffers (what run_tiled did before it streamed)."""
    from artforge_torch.gan_steps import run_whole

    _, _, h, w = x.shape
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap, tile // 2)
    step = tile - overlap
    out = torch.zeros(x.shape[0], 3, h, w)
    weight = torch.zeros(1, 1, h, w)
    ramp = torch.ones(tile)
    if overlap:
        edge = torch.linspace(0, 1, overlap + 2)[1:-1]
        ramp[:overlap] = edge
        ramp[-overlap:] = edge.flip(0)
    win = ramp[:, None] * ramp[None, :]
    ys = list(range(0, max(h - tile, 0) + 1, step)) or [0]
    xs = list(range(0, max(w - tile, 0) + 1, step)) or [0]
    if ys[-1] + tile < h:
        ys.append(h - tile)
    if xs[-1] + tile < w:
        xs.append(w - tile)
    for y0 in ys:
        for x0 in xs:
            pred = run_whole(net, x[..., y0 : y0 + tile, x0 : x0 + tile], multiple).float()
            th, tw = pred.shape[-2:]
            out[..., y0 : y0 + th, x0 : x0 + tw] += pred * win[:th, :tw]
            weight[..., y0 : y0 + th, x0 : x0 + tw] += win[:th, :tw]
    return out / weight.clamp_min(1e-8)


@pytest.mark.parametrize(
    "n, h, w, tile, overlap",
    [(1, 45, 70, 32, 8), (2, 100, 77, 32, 8), (1, 20, 130, 64, 16), (1, 96, 96, 32, 0)],
)
def test_streamed_translate_equals_the_full_size_blend(n, h, w, tile, overlap):
    net, imgs = _tiny_unet(), _image(h, w, n)
    with torch.inference_mode():
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        ref = _reference_run_tiled(net, x, tile, overlap, net.multiple)
        assert torch.equal(run_tiled(net, x, tile, overlap, net.multiple), ref)
        got = translate_tiled(net, imgs, tile, overlap, net.multiple)
    assert got.dtype == np.uint8 and got.shape == imgs.shape
    assert np.array_equal(got, to_uint8_images(ref))


@pytest.mark.parametrize("h, w, tile", [(37, 29, 12), (20, 20, 32), (64, 50, 16)])
def test_streamed_upscale_equals_the_full_size_float_path(h, w, tile):
    net, img = _tiny_sr(), _image(h, w)
    fn = forward_fn(net)
    ref = to_image(tiled_forward(fn, img[None].astype(np.float32) / 255, 2, tile, 3))
    got = tiled_to_image(fn, img, 2, tile, 3)
    assert got.dtype == np.uint8 and got.shape == (2 * h, 2 * w, 3)
    assert np.array_equal(got, ref)


def _peak_above_now(fn, *args) -> tuple[np.ndarray, int]:
    """``fn(*args)`` and how far the resident set's high-water mark rose above the resident
    set just before it (Linux: writing 5 to /proc/self/clear_refs resets the mark)."""

    def kb(key: str) -> int:
        for line in STATUS.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    CLEAR_REFS.write_text("5")
    before = kb("VmRSS:")
    out = fn(*args)
    return out, kb("VmHWM:") - before


@pytest.mark.skipif(
    not (STATUS.is_file() and CLEAR_REFS.exists()), reason="needs Linux's /proc/self/clear_refs"
)
def test_tiled_inference_memory_stays_a_few_times_the_uint8_output():
    """A 1024x1024 image through a tiny network: the working memory stays a few times the
    uint8 result (tile, strip and the result itself). The full-size float buffers these
    paths used to hold came to ~13x (SR x2) and ~19x (translate) the uint8 result."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        pytest.skip("cannot reset the resident-set high-water mark here")
    img = _image(1024, 1024)
    sr, unet = _tiny_sr(), _tiny_unet()

    def upscale(a):
        return tiled_to_image(forward_fn(sr), a, 2, 64, 3)

    def translate(a):
        with torch.inference_mode():
            return translate_tiled(unet, a[None], 128, 16, unet.multiple)[0]

    for run, bound in ((upscale, 3.0), (translate, 6.0)):
        run(img[:200, :300].copy())  # one-off start-up allocations (thread pools, kernels)
        out, rise = _peak_above_now(run, img)
        assert out.shape[:2] in ((1024, 1024), (2048, 2048)) and out.dtype == np.uint8
        assert rise < bound * out.nbytes, (run.__name__, rise / out.nbytes)
