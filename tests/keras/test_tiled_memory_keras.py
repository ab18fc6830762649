"""Bounded memory of the Keras backend's tiled inference: super-resolution and translate
store each tile (row) as uint8 in a preallocated result instead of a full-size float buffer,
with results equal to the full-size float path. The tiled code takes any function from
float (N, H, W, C) arrays to arrays, so numpy stand-ins for the networks keep these tests
free of TensorFlow, and tracemalloc sees every buffer."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from artforge.sr_learned import tiled_forward, tiled_to_image, to_image
from artforge_keras.data import to_float, to_uint8_images
from artforge_keras.gan_steps import run_tiled, translate_tiled


def _translator(x: np.ndarray) -> np.ndarray:
    """A stand-in generator whose output depends on the neighbourhood (so seams show)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    y = sum(xp[:, dy : dy + x.shape[1], dx : dx + x.shape[2]] for dy in range(3) for dx in range(3))
    return np.tanh(y[..., ::-1] / 4.0).astype(np.float32)


def _upscaler(x: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(np.tanh(x * 1.5), 2, axis=1), 2, axis=2)


def _image(h: int, w: int, n: int | None = None, seed: int = 0) -> np.ndarray:
    shape = (h, w, 3) if n is None else (n, h, w, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _reference_run_tiled(fn, x, tile, overlap, multiple):
    """The blend with full-size float buffers (what run_tiled did before it streamed)."""
    from artforge_keras.gan_steps import run_whole

    n, h, w, _ = x.shape
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap, tile // 2)
    step = tile - overlap
    out = np.zeros((n, h, w, 3), np.float32)
    weight = np.zeros((1, h, w, 1), np.float32)
    ramp = np.ones(tile, np.float32)
    if overlap:
        edge = np.linspace(0, 1, overlap + 2, dtype=np.float32)[1:-1]
        ramp[:overlap] = edge
        ramp[-overlap:] = edge[::-1]
    win = ramp[:, None] * ramp[None, :]
    ys = list(range(0, max(h - tile, 0) + 1, step)) or [0]
    xs = list(range(0, max(w - tile, 0) + 1, step)) or [0]
    if ys[-1] + tile < h:
        ys.append(h - tile)
    if xs[-1] + tile < w:
        xs.append(w - tile)
    for y0 in ys:
        for x0 in xs:
            pred = run_whole(fn, x[:, y0 : y0 + tile, x0 : x0 + tile], multiple)
            th, tw = pred.shape[1:3]
            out[:, y0 : y0 + th, x0 : x0 + tw] += pred * win[:th, :tw, None]
            weight[:, y0 : y0 + th, x0 : x0 + tw] += win[:th, :tw, None]
    return out / np.maximum(weight, 1e-8)


@pytest.mark.parametrize(
    "n, h, w, tile, overlap",
    [(1, 45, 70, 32, 8), (2, 100, 77, 32, 8), (1, 20, 130, 64, 16), (1, 96, 96, 32, 0)],
)
def test_streamed_translate_equals_the_full_size_blend(n, h, w, tile, overlap):
    imgs = _image(h, w, n)
    x = to_float(imgs)
    ref = _reference_run_tiled(_translator, x, tile, overlap, 4)
    assert np.array_equal(run_tiled(_translator, x, tile, overlap, 4), ref)
    got = translate_tiled(_translator, imgs, tile, overlap, 4)
    assert got.dtype == np.uint8 and got.shape == imgs.shape
    assert np.array_equal(got, to_uint8_images(ref))


@pytest.mark.parametrize("h, w, tile", [(37, 29, 12), (20, 20, 32), (64, 50, 16)])
def test_streamed_upscale_equals_the_full_size_float_path(h, w, tile):
    img = _image(h, w)
    x = np.asarray(img, np.float32)[None] / 255.0
    ref = to_image(tiled_forward(_upscaler, x, 2, tile, 3))
    got = tiled_to_image(_upscaler, img, 2, tile, 3)
    assert got.dtype == np.uint8 and got.shape == (2 * h, 2 * w, 3)
    assert np.array_equal(got, ref)


def _traced_peak(fn, *args) -> tuple[np.ndarray, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = fn(*args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tiled_inference_memory_stays_a_few_times_the_uint8_output():
    """A 1024x1024 image: the numpy allocations peak at a few times the uint8 result (tile,
    strip and the result itself); the full-size float buffers these paths used to hold came
    to ~12x (SR x2) and ~15x (translate) the uint8 result."""
    img = _image(1024, 1024)
    up, up_peak = _traced_peak(tiled_to_image, _upscaler, img, 2, 64, 3)
    assert up.shape == (2048, 2048, 3)
    assert up_peak < 3 * up.nbytes, up_peak / up.nbytes
    tr, tr_peak = _traced_peak(translate_tiled, _translator, img[None], 128, 16, 4)
    assert tr.shape == (1, 1024, 1024, 3)
    assert tr_peak < 6 * tr.nbytes, tr_peak / tr.nbytes
