"""The ``train-gan`` and ``translate`` steps of the PyTorch backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from artforge.api import StepError
from artforge.gan_steps import image_to_image, translate_images


def train_gan(ctx: Any, p: Any) -> dict[str, Any]:
    """``train-gan``: the trainer registered as ``p.model`` for this backend (the built-in
    pix2pix, cyclegan, dcgan and cdcgan are registered like any plugin's:
    :mod:`artforge_torch.features.gan`), with the training data of its kind."""
    from artforge.components import run_gan_trainer

    from .registered import build_data

    return run_gan_trainer(ctx, p, build_data, "artforge_torch.training.GANTrainer")


# data-parallel under torchrun: every rank runs this step (GANTrainer shards it; rank 0 writes)
train_gan.distributed = True


# -- translate ------------------------------------------------------------------------------
def build_generator(
    meta: dict[str, Any], path: Any, direction: str = "AtoB", registry: Any = None, expect: str = ""
) -> torch.nn.Module:
    """Rebuild a trained generator from a model artifact's meta and weights, in eval mode:
    the generator registered under ``meta["arch"]`` for this backend
    (:func:`artforge.components.trained_generator`: its ``loader``, or ``factory(**kwargs)``
    with the safetensors weights loaded)."""
    from artforge.components import trained_generator

    if meta.get("backend") not in (None, "torch"):
        raise StepError(
            f"the model was trained with the {meta.get('backend')} backend; translate it with the same backend"
        )
    return trained_generator(registry, "torch", meta, path, direction, load_default, expect).eval()


def load_default(factory: Any, meta: dict[str, Any], path: Any) -> torch.nn.Module:
    """``factory(**meta["kwargs"])`` with the safetensors weights at ``path`` loaded."""
    from .training.checkpoint import import_safetensors

    net = factory(**meta["kwargs"])
    import_safetensors(path, net)
    return net


def _pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


def run_whole(net: torch.nn.Module, x: torch.Tensor, multiple: int) -> torch.Tensor:
    xp, h, w = _pad_to(x, multiple)
    return net(xp)[..., :h, :w]


def _tile_starts(size: int, tile: int, step: int) -> list[int]:
    starts = list(range(0, max(size - tile, 0) + 1, step)) or [0]
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def tiled_rows(
    net: torch.nn.Module,
    cut: Callable[[int, int, int, int], torch.Tensor],
    n: int,
    h: int,
    w: int,
    tile: int,
    overlap: int,
    multiple: int,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Translate in overlapping tiles blended with linear ramps, one row of tiles at a time:
    yields ``(r0, r1, rows)``, the finished output rows ``r0:r1`` (float ``n x 3 x (r1 - r0)
    x w``), top to bottom. ``cut(y0, y1, x0, x1)`` gives the network's input for that area.
    The blend accumulates in a strip buffer one tile tall (the rows the next tile row
    overlaps move up in it), so the float memory is O(tile x w), whatever ``h``; every
    pixel sums the same weighted predictions in the same order as a full-size buffer would."""
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap, tile // 2)
    step = tile - overlap
    ramp = torch.ones(tile)
    if overlap:
        edge = torch.linspace(0, 1, overlap + 2)[1:-1]
        ramp[:overlap] = edge
        ramp[-overlap:] = edge.flip(0)
    win = ramp[:, None] * ramp[None, :]
    ys, xs = _tile_starts(h, tile, step), _tile_starts(w, tile, step)
    rows = min(tile, h)
    acc = torch.zeros(n, 3, rows, w, dtype=torch.float32)  # image rows y0 : y0 + rows
    weight = torch.zeros(1, 1, rows, w)
    for k, y0 in enumerate(ys):
        for x0 in xs:
            pred = run_whole(net, cut(y0, y0 + tile, x0, x0 + tile), multiple).float().cpu()
            th, tw = pred.shape[-2:]
            wv = win[:th, :tw]
            acc[..., :th, x0 : x0 + tw] += pred * wv
            weight[..., :th, x0 : x0 + tw] += wv
        last = k + 1 == len(ys)
        done = (h if last else ys[k + 1]) - y0  # no later tile reaches these rows
        yield y0, y0 + done, acc[:, :, :done] / weight[:, :, :done].clamp_min(1e-8)
        if not last:
            keep = rows - done
            acc[:, :, :keep] = acc[:, :, done:].clone()
            weight[:, :, :keep] = weight[:, :, done:].clone()
            acc[:, :, keep:] = 0
            weight[:, :, keep:] = 0


def run_tiled(
    net: torch.nn.Module, x: torch.Tensor, tile: int, overlap: int, multiple: int
) -> torch.Tensor:
    """Translate in overlapping tiles blended with linear ramps (:func:`tiled_rows`) into a
    full-size float result; :func:`translate_tiled` writes uint8 row by row instead."""
    n, _, h, w = x.shape
    out = torch.empty(n, 3, h, w, dtype=torch.float32)

    def cut(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        return x[..., y0:y1, x0:x1]

    for r0, r1, rows in tiled_rows(net, cut, n, h, w, tile, overlap, multiple):
        out[..., r0:r1, :] = rows
    return out


def translate_tiled(
    net: torch.nn.Module,
    images: np.ndarray,
    tile: int,
    overlap: int,
    multiple: int,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` images translated in tiles into a preallocated uint8 result:
    each tile is converted to float in [-1, 1] on its own, each finished row of tiles is
    normalised and stored as uint8, so the float memory is O(tile x W) (:func:`tiled_rows`).
    Equal to ``to_uint8_images(run_tiled(net, x, ...))`` for ``x`` the whole batch in
    [-1, 1]: the same per-pixel conversions, tiles, sums and rounding."""
    from .data import to_uint8_images

    n, h, w = images.shape[:3]

    def cut(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        patch = torch.from_numpy(np.ascontiguousarray(images[:, y0:y1, x0:x1, :3]))
        x = patch.permute(0, 3, 1, 2).to(device).float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    out = np.empty((n, h, w, 3), np.uint8)
    for r0, r1, rows in tiled_rows(net, cut, n, h, w, tile, overlap, multiple):
        out[:, r0:r1] = to_uint8_images(rows)
    return out


def translate(ctx: Any, p: Any) -> dict[str, Any]:
    from .data import to_uint8_images
    from .training.device import runtime

    art = ctx.model_input(p.model)
    if len(ctx.images(p.images)) == 0:
        raise StepError(f"step '{ctx.step_id}': no images to translate")
    rt = runtime(ctx.device, "auto", True)
    image_to_image(ctx, art.meta)
    net = build_generator(art.meta, art.path, p.direction, ctx.registry).to(rt.device)
    if rt.channels_last:
        net = net.to(memory_format=torch.channels_last)
    multiple = int(art.meta.get("multiple", 4))
    ctx.info.update(rt.describe())
    ctx.info["model_sha256"] = art.meta.get("sha256")

    def predict(x: np.ndarray, tiled: bool) -> np.ndarray:
        if tiled:
            return translate_tiled(
                net, x, p.tile or 512, p.overlap, multiple, rt.device, rt.channels_last
            )
        t = torch.from_numpy(x).permute(0, 3, 1, 2).to(rt.device).float().div_(127.5).sub_(1.0)
        if rt.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        return to_uint8_images(run_whole(net, t, multiple))

    with torch.inference_mode(), rt.autocast():
        return translate_images(ctx, p, predict)
