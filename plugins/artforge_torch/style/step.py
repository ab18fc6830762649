"""The ``stylize`` step (PyTorch backend): optimisation-based (Gatys et al. 2016) or
feed-forward (Johnson et al. 2016) style transfer of a set of content images."""

from __future__ import annotations

import time

import numpy as np
import torch

from artforge.api import DataError, StepError, load_image, resize
from artforge.schemas.style import BUILTIN_PREFIX, builtin_style_names

from .loss_net import build_loss_network
from .util import describe_device, resolve_device, save_safetensors, to_tensor

MODEL_FILE = "style.safetensors"


def fit_size(img: np.ndarray, size: int | None) -> np.ndarray:
    """Scale so the longer edge is ``size`` pixels (aspect ratio kept)."""
    if size is None:
        return img
    h, w = img.shape[:2]
    f = size / max(h, w)
    if f == 1:
        return img
    return resize(
        img, (max(1, round(w * f)), max(1, round(h * f))), "lanczos" if f < 1 else "bicubic"
    )


def load_style(ctx, p, size: int) -> tuple[np.ndarray, str]:
    """The style image (uint8) and a description of where it came from."""
    spec = p.style
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        try:
            from artforge.styles import STYLES, render_style
        except ImportError:
            raise StepError("built-in styles are not available in this artforge") from None
        if name not in STYLES:
            raise StepError(
                f"unknown built-in style {name!r}",
                hint="built-in styles: " + ", ".join(builtin_style_names()),
            )
        img = np.asarray(render_style(name, size, ctx.seed))
        if img.dtype != np.uint8:
            img = np.clip(np.rint(img.astype(np.float64) * 255), 0, 255).astype(np.uint8)
        return img[..., :3], f"built-in procedural style '{name}'"
    if spec.startswith("${"):
        images = ctx.images(spec)
        if p.style_index >= len(images):
            raise StepError(
                f"style_index {p.style_index} is out of range: {spec} holds {len(images)} image(s)"
            )
        return images.load(p.style_index), f"{spec} image {images.names[p.style_index]}"
    path = ctx.resolve_path(spec)
    return load_image(path), str(path)


def run(ctx, p):
    content = ctx.images(p.images)
    if len(content) == 0:
        raise DataError(f"step '{ctx.step_id}': {p.images} holds no images")
    device = resolve_device(ctx.device)
    ctx.info["device"] = describe_device(device)
    style_edge = p.style_size or p.size or max(content.load(0).shape[:2])
    style_img, style_src = load_style(ctx, p, style_edge)
    style_img = fit_size(style_img, style_edge)
    ctx.info["style"] = style_src
    style_out = ctx.image_writer("style")
    style_out.add(style_img, name="style")
    outputs = {"style": style_out.finish(source=style_src)}

    loss_net = build_loss_network(
        ctx, p.features, p.vgg_weights, p.content_layers, p.style_layers, device, ctx.seed
    )
    ctx.info["layers"] = (
        f"content {', '.join(loss_net.content_layers)}; style {', '.join(loss_net.style_layers)}"
    )
    style_t = to_tensor(style_img, device)
    if p.method == "optimise":
        outputs["images"] = _optimise(ctx, p, content, style_t, loss_net, device)
    elif p.method != "feed-forward":  # a style optimiser a plugin registered
        outputs["images"] = _registered(ctx, p, content, style_img, style_t, loss_net, device)
    else:
        images, model = _feed_forward(ctx, p, content, style_t, loss_net, device)
        outputs["images"] = images
        if model is not None:
            outputs["model"] = model
    from artforge.stylescore import record_style_score

    # a style score no loss network above was trained on, beside the colour-only baseline's
    outputs["baseline"] = record_style_score(
        ctx, content, outputs["images"], style_img, lambda im: fit_size(im, p.size)
    )
    ctx.info["compare"] = {"before": p.images, "after": "images"}
    return outputs


# -- optimisation -------------------------------------------------------------------------------
def _optimise(ctx, p, content, style_t, loss_net, device):
    from .gatys import GatysOptimiser

    ctx.info["method"] = (
        f"Gatys et al. 2016: {p.optimiser.upper() if p.optimiser == 'lbfgs' else 'Adam'} on the "
        f"pixels from the {p.init} image"
        + (", luminance only (colours preserved)" if p.preserve_color else "")
    )
    opt = GatysOptimiser(
        loss_net,
        content_weight=p.content_weight,
        style_weight=p.style_weight,
        tv_weight=p.tv_weight,
        optimiser=p.optimiser,
        lr=p.lr,
        steps=p.steps,
        init=p.init,
        scales=p.scales,
        preserve_color=p.preserve_color,
        seed=ctx.seed,
    )
    out = ctx.image_writer("images", method="optimise")
    progress = ctx.progress(len(content), "stylizing")
    rows = []
    for i, name in enumerate(content.names):
        img = fit_size(content.load(i), p.size)
        cb = None
        if i == 0:

            def cb(n, level, losses):
                ctx.record("content_loss", n, losses.content)
                ctx.record("style_loss", n, losses.style)
                ctx.record("tv_loss", n, losses.tv)
                ctx.record("total_loss", n, losses.total)

        res = opt.stylize(to_tensor(img, device), style_t, on_eval=cb)
        out.add(_to_uint8(res.image), name=name)
        rows.append((name, res))
        progress.update(1, style_drop=res.style_loss_drop)
    progress.close()
    first = rows[0][1]
    if len(first.levels) > 1:
        ctx.info["scales"] = " -> ".join(f"{w}x{h}" for h, w in first.levels)
    drops = [r.style_loss_drop for _, r in rows]
    within = [r.final.content <= r.content_bound * (1 + 1e-6) for _, r in rows]
    evals = sum(r.evaluations for _, r in rows)
    secs = sum(r.seconds for _, r in rows)
    m = ctx.metrics
    m["style_loss_initial"] = _g(np.mean([r.reference.style for _, r in rows]))
    m["style_loss_final"] = _g(np.mean([r.final.style for _, r in rows]))
    m["style_loss_drop"] = round(float(np.mean(drops)), 4)
    m["style_loss_drop_min"] = round(float(np.min(drops)), 4)
    m["content_loss_final"] = _g(np.mean([r.final.content for _, r in rows]))
    m["content_loss_bound"] = _g(np.mean([r.content_bound for _, r in rows]))
    m["content_within_bound"] = int(sum(within))
    m["tv_loss_final"] = _g(np.mean([r.final.tv for _, r in rows]))
    m["steps_per_second"] = round(evals / max(secs, 1e-9), 3)
    m["seconds_per_image"] = round(secs / len(rows), 3)
    if len(rows) <= 8:
        m["per_image"] = {
            n: {
                "style_loss_drop": round(r.style_loss_drop, 4),
                "content_loss": _g(r.final.content),
                "content_loss_bound": _g(r.content_bound),
            }
            for n, r in rows
        }
    if not all(within):
        bad = [n for (n, _), ok in zip(rows, within) if not ok]
        ctx.warn(
            f"content loss above the bound the weights set for {len(bad)} image(s) "
            f"(e.g. {bad[0]}): the optimiser did not reach a better point than the content "
            "image itself; use more steps or a lower lr"
        )
    ctx.info["content_loss_bound"] = (
        "(total loss of the content image - style_weight x style loss - tv_weight x TV loss "
        "of the result) / content_weight: the result must not score worse than the content "
        "image itself"
    )
    return out.finish()


# -- feed-forward ---------------------------------------------------------------------------------
def _feed_forward(ctx, p, content, style_t, loss_net, device):
    from .feedforward import ARCH, load_transformer, stylize_image, train_transformer

    model = None
    if p.model is not None:
        art = ctx.model_input(p.model)
        net, meta = load_transformer(art.path, p.model, device)
        ctx.info["model"] = f"transformation network from {p.model} ({meta.get('style', '?')})"
    elif p.checkpoint is not None:
        path = ctx.resolve_path(p.checkpoint)
        net, meta = load_transformer(path, str(path), device)
        ctx.info["model"] = f"transformation network from {path} ({meta.get('style', '?')})"
    else:
        train_set = ctx.images(p.train_images) if p.train_images else content
        images = train_set.load_all()
        ctx.info["method"] = (
            f"Johnson et al. 2016: transformation network (width {p.width}) trained for "
            f"{p.steps} steps on {len(images)} image(s), {p.train_size}px crops, batch {p.batch_size}"
        )

        def on_step(n, c, s, t):
            ctx.record("content_loss", n, c)
            ctx.record("style_loss", n, s)
            ctx.record("tv_loss", n, t)

        progress = ctx.progress(p.steps, "training style network")
        config = {"width": p.width}
        net, stats = train_transformer(
            loss_net,
            style_t,
            images,
            steps=p.steps,
            batch_size=p.batch_size,
            size=p.train_size,
            lr=p.lr or 1e-3,
            content_weight=p.content_weight,
            style_weight=p.style_weight,
            tv_weight=p.tv_weight,
            config=config,
            device=device,
            seed=ctx.seed,
            on_step=on_step,
            progress=progress,
            state_path=ctx.work_dir / "style_train.pt",
        )
        progress.close()
        ctx.metrics["train_seconds"] = round(stats.seconds, 2)
        ctx.metrics["train_steps"] = stats.steps
        if stats.resumed_from:
            ctx.info["resumed_from_step"] = stats.resumed_from
        meta = {
            "arch": ARCH,
            "config": getattr(net, "config", None) or config,
            "style": ctx.info.get("style", ""),
            "feature_network": loss_net.description,
            "steps": p.steps,
            "backend": "torch",
        }
        model = ctx.model_artifact("model", MODEL_FILE, **meta)
        save_safetensors(model.path, net.state_dict(), meta)

    out = ctx.image_writer("images", method="feed-forward")
    # Score the outputs with the same losses as the optimiser (style loss of the content image
    # versus of the stylized image), so the two methods can be compared.
    drops, contents, times = [], [], []
    style_targets = loss_net.style_targets(style_t)
    stylize_image(net, fit_size(content.load(0), p.size), device)  # warm-up, not timed
    for i, name in enumerate(content.names):
        img = fit_size(content.load(i), p.size)
        t0 = time.perf_counter()
        res = stylize_image(net, img, device)
        times.append(time.perf_counter() - t0)
        out.add(res, name=name)
        with torch.no_grad():
            x = to_tensor(img, device)
            ct = loss_net.content_targets(x)
            _, s0, _ = loss_net.losses(x, ct, style_targets)
            c1, s1, _ = loss_net.losses(to_tensor(res, device), ct, style_targets)
        drops.append(1.0 - float(s1) / max(float(s0), 1e-12))
        contents.append(float(c1))
    m = ctx.metrics
    m["style_loss_drop"] = round(float(np.mean(drops)), 4)
    m["content_loss_final"] = _g(np.mean(contents))
    m["seconds_per_image"] = round(float(np.median(times)), 4)
    m["images_per_second"] = round(1.0 / max(float(np.median(times)), 1e-9), 3)
    return out.finish(), model


# -- a registered style optimiser ------------------------------------------------------------------
def _registered(ctx, p, content, style_img, style_t, loss_net, device):
    """Each image through the registered optimiser (artforge.components), scored with the
    loss network as the built-in methods are (style_loss_drop, content_loss_final)."""
    from artforge.components import run_style_optimiser

    style_targets = loss_net.style_targets(style_t)

    def score(img: np.ndarray, res: np.ndarray) -> tuple[float, float]:
        with torch.no_grad():
            x = to_tensor(img, device)
            ct = loss_net.content_targets(x)
            _, s0, _ = loss_net.losses(x, ct, style_targets)
            if res.shape != img.shape:  # a result of another size: content at its size
                resized = resize(img, (res.shape[1], res.shape[0]))
                ct = loss_net.content_targets(to_tensor(resized, device))
            c1, s1, _ = loss_net.losses(to_tensor(res, device), ct, style_targets)
        return float(c1), 1.0 - float(s1) / max(float(s0), 1e-12)

    return run_style_optimiser(ctx, p, content, style_img, fit_size, score)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    from .util import to_image

    return to_image(t)


def _g(v) -> float:
    """Round to 4 significant digits for the gallery."""
    v = float(v)
    return float(f"{v:.4g}") if np.isfinite(v) else v
