"""The ``train-gan`` and ``translate`` steps of the PyTorch backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from artforge.api import StepError, write_json

# model name -> "module:function(ctx, params) -> outputs"; other GANs add themselves here.
TRAINERS: dict[str, str] = {
    "pix2pix": "artforge_torch.gan_steps:train_pix2pix",
    "cyclegan": "artforge_torch.cyclegan:train_cyclegan",
    "dcgan": "artforge_torch.dcgan:train_dcgan",
    "cdcgan": "artforge_torch.dcgan:train_dcgan",
}


def train_gan(ctx: Any, p: Any) -> dict[str, Any]:
    spec = TRAINERS.get(p.model)
    if spec is None:
        raise StepError(
            f"step '{ctx.step_id}': model '{p.model}' is not available in the torch backend yet",
            hint=f"available: {', '.join(sorted(TRAINERS))}",
        )
    from artforge.registry import load_object

    return load_object(spec)(ctx, p)


# data-parallel under torchrun: every rank runs this step (GANTrainer shards it; rank 0 writes)
train_gan.distributed = True


def train_pix2pix(ctx: Any, p: Any) -> dict[str, Any]:
    from .data import PairedData, paired_from_folder, paired_from_sets
    from .pix2pix import Pix2PixTrainer

    if p.folder:
        names, a, b = paired_from_folder(ctx.resolve_path(p.folder), p.direction)
    else:
        names, a, b = paired_from_sets(ctx.images(p.source), ctx.images(p.target))
    load = p.load_size or (round(p.image_size * 286 / 256) if p.jitter else p.image_size)
    data = PairedData(a, b, p.image_size, load, p.flip)
    if len(data) < p.batch_size:
        raise StepError(
            f"step '{ctx.step_id}': batch_size {p.batch_size} is larger than the {len(data)} training pairs",
            hint="lower batch_size",
        )
    ctx.metrics["pairs"] = len(data)
    trainer = Pix2PixTrainer(ctx, p, data)
    ctx.log(
        f"  pix2pix: {len(data)} pairs at {p.image_size}px, batch {p.batch_size}, "
        f"{trainer.total_epochs} epochs on {trainer.rt.describe()['device_name']}"
    )
    trainer.fit()
    outputs = trainer.export(ctx)
    outputs["samples"] = trainer.copy_samples(ctx)
    return outputs


# -- translate ------------------------------------------------------------------------------
def build_generator(meta: dict[str, Any], path: Any, direction: str = "AtoB") -> torch.nn.Module:
    """Rebuild a generator from a model artifact's meta and load its safetensors weights."""
    from .training.checkpoint import import_safetensors

    if meta.get("backend") not in (None, "torch"):
        raise StepError(
            f"the model was trained with the {meta.get('backend')} backend; translate it with the same backend"
        )
    arch = meta.get("arch")
    if arch == "unet":
        from .nets.pix2pix import UNetGenerator

        net = UNetGenerator(**meta["kwargs"])
        import_safetensors(path, net)
        return net.eval()
    builder = ARCHS.get(arch)
    if builder is None:
        raise StepError(f"cannot translate with a '{arch}' model", hint="use a pix2pix or cyclegan generator")
    from artforge.registry import load_object

    return load_object(builder)(meta, path, direction).eval()


# arch name -> "module:function(meta, path, direction) -> nn.Module"; other GANs add theirs.
ARCHS: dict[str, str] = {
    "resnet": "artforge_torch.cyclegan:build_resnet",
}


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


def run_tiled(net: torch.nn.Module, x: torch.Tensor, tile: int, overlap: int, multiple: int) -> torch.Tensor:
    """Translate in overlapping tiles blended with linear ramps; memory is bounded by the tile."""
    _, c, h, w = x.shape
    tile = max(multiple, tile - tile % multiple)
    overlap = min(overlap, tile // 2)
    step = tile - overlap
    out = torch.zeros(x.shape[0], 3, h, w, dtype=torch.float32)
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
            patch = x[..., y0 : y0 + tile, x0 : x0 + tile]
            pred = run_whole(net, patch, multiple).float().cpu()
            th, tw = pred.shape[-2:]
            wv = win[:th, :tw]
            out[..., y0 : y0 + th, x0 : x0 + tw] += pred * wv
            weight[..., y0 : y0 + th, x0 : x0 + tw] += wv
    return out / weight.clamp_min(1e-8)


def translate(ctx: Any, p: Any) -> dict[str, Any]:
    from .data import to_uint8_images
    from .training.device import runtime

    art = ctx.model_input(p.model)
    images = ctx.images(p.images)
    if len(images) == 0:
        raise StepError(f"step '{ctx.step_id}': no images to translate")
    rt = runtime(ctx.device, "auto", True)
    net = build_generator(art.meta, art.path, p.direction).to(rt.device)
    if rt.channels_last:
        net = net.to(memory_format=torch.channels_last)
    multiple = int(art.meta.get("multiple", 4))
    ctx.info.update(rt.describe())
    ctx.info["model_sha256"] = art.meta.get("sha256")
    ctx.info["compare"] = {"before": p.images, "after": "images"}
    out = ctx.image_writer("images")
    progress = ctx.progress(len(images), "translating")
    with torch.inference_mode(), rt.autocast():
        # decode every image once; group images of the same size into batches
        inputs = images.load_all()
        by_size: dict[tuple, list[int]] = {}
        for i, img in enumerate(inputs):
            by_size.setdefault(img.shape, []).append(i)
        results: dict[int, np.ndarray] = {}
        for shape, idx in by_size.items():
            h, w = shape[:2]
            use_tiles = p.tile is not None or max(h, w) > 1024
            for k in range(0, len(idx), p.batch_size):
                chunk = idx[k : k + p.batch_size]
                x = torch.from_numpy(np.stack([inputs[i] for i in chunk])).permute(0, 3, 1, 2)
                x = x.to(rt.device).float().div_(127.5).sub_(1.0)
                if rt.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                if use_tiles:
                    y = run_tiled(net, x, p.tile or 512, p.overlap, multiple)
                else:
                    y = run_whole(net, x, multiple)
                for i, img in zip(chunk, to_uint8_images(y)):
                    results[i] = img
                progress.update(len(chunk))
    progress.close()
    names = images.names
    for i in range(len(images)):
        out.add(results[i], name=names[i])
    outputs = {"images": out.finish()}
    if p.target:
        outputs.update(_score(ctx, p, names, results, inputs))
    return outputs


def _score(ctx: Any, p: Any, names: list[str], results: dict[int, np.ndarray], inputs: list[np.ndarray]) -> dict[str, Any]:
    """PSNR/SSIM against ``target`` (and for the colour baseline): outputs ``metrics`` (a
    metrics.json file) and, with a baseline, ``baseline`` (its images, named like the inputs)."""
    from artforge.metrics import apply_affine_colour, fit_affine_colour, psnr, ssim

    target = ctx.images(p.target)
    t_index = {n: i for i, n in enumerate(target.names)}
    pairs = [(i, t_index[n]) for i, n in enumerate(names) if n in t_index]
    if not pairs:
        raise StepError(f"step '{ctx.step_id}': no target image shares a file name with the inputs")
    coef = None
    if p.baseline_source:
        src, tgt = ctx.images(p.baseline_source), ctx.images(p.baseline_target)
        tmap = {n: i for i, n in enumerate(tgt.names)}
        sel = [(i, tmap[n]) for i, n in enumerate(src.names) if n in tmap]
        if not sel:
            raise StepError(f"step '{ctx.step_id}': the baseline source and target share no file names")
        coef = fit_affine_colour([src.load(i) for i, _ in sel], [tgt.load(j) for _, j in sel])
        ctx.info["baseline"] = "per-channel affine colour map fitted by least squares on the training pairs"
    outputs: dict[str, Any] = {}
    baseline: dict[int, np.ndarray] = {}
    if coef is not None:
        writer = ctx.image_writer("baseline")
        for i, name in enumerate(names):
            baseline[i] = apply_affine_colour(inputs[i], coef)
            writer.add(baseline[i], name=name)
        outputs["baseline"] = writer.finish(method="per-channel affine colour map", coefficients=coef.round(5).tolist())
    per_image: dict[str, dict[str, float]] = {}
    for i, j in pairs:
        truth = target.load(j)
        pred = results[i]
        if pred.shape != truth.shape:
            continue
        row = {"psnr": psnr(pred, truth), "ssim": ssim(pred, truth)}
        if coef is not None:
            base = baseline[i]
            row["baseline_psnr"] = psnr(base, truth)
            row["baseline_ssim"] = ssim(base, truth)
        per_image[names[i]] = {k: round(v, 4) for k, v in row.items()}
    if not per_image:
        raise StepError(f"step '{ctx.step_id}': targets and outputs differ in size; cannot score")
    keys = next(iter(per_image.values())).keys()
    means = {k: round(float(np.mean([r[k] for r in per_image.values()])), 4) for k in keys}
    ctx.metrics.update(means)
    if coef is not None:
        ctx.metrics["psnr_margin_db"] = round(means["psnr"] - means["baseline_psnr"], 3)
    ctx.metrics["scored_images"] = len(per_image)
    ctx.metrics["per_image"] = per_image
    art = ctx.file_artifact("metrics", "metrics.json")
    summary: dict[str, Any] = {"mean": means, "psnr_margin_db": ctx.metrics.get("psnr_margin_db")}
    if coef is not None:
        summary["baseline"] = {
            "method": "per-channel affine colour map, least squares on the training pairs",
            "coefficients": {c: coef[k].round(6).tolist() for k, c in enumerate("RGB")},
        }
    summary["per_image"] = per_image
    write_json(art.path, summary)
    outputs["metrics"] = art
    return outputs
