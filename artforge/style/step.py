"""The ``stylize`` step, once for every backend: optimisation-based (Gatys et al. 2016),
feed-forward (Johnson et al. 2016), patch-based (Elad & Milanfar 2017) or a registered style
optimiser, each scored by the loss network and against a colour-only baseline.

Everything here is numpy and Pillow; the tensor code comes from the backend's runtime
(:mod:`artforge.style.runtime`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from artforge.errors import DataError, StepError
from artforge.images import load_image, resize
from artforge.registry import StepType
from artforge.schemas.style import BUILTIN_PREFIX, StylizeParams, builtin_style_names

# One version for every backend; it enters the cache key. 4: one step in the core (the same
# metrics and records on both backends; keras was at 2, torch at 3).
VERSION = "4"
OUTPUTS = ("images", "style", "model", "baseline")


def step_type(backend: str, run: str) -> StepType:
    """The ``stylize`` step type of ``backend``, whose ``run`` (``module:function``) calls
    :func:`run_stylize` with its runtime."""
    return StepType(
        name="stylize",
        params=StylizeParams,
        run=run,
        outputs=OUTPUTS,
        description="Style transfer: the style's own patches (Elad & Milanfar 2017), optimise "
        "each image (Gatys et al. 2016) or train a feed-forward network for the style (Johnson "
        "et al. 2016)",
        backend=backend,
        version=VERSION,
    )


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


def load_style(ctx: Any, p: Any, size: int) -> tuple[np.ndarray, str]:
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


def run_stylize(ctx: Any, p: Any, rt: Any) -> dict[str, Any]:
    """The ``stylize`` step on the backend whose runtime is ``rt``."""
    from artforge.stylescore import record_style_score

    from .features import build_loss_network

    content = ctx.images(p.images)
    if len(content) == 0:
        raise DataError(f"step '{ctx.step_id}': {p.images} holds no images")
    with rt.session(ctx):
        style_edge = p.style_size or p.size or max(content.load(0).shape[:2])
        style_img, style_src = load_style(ctx, p, style_edge)
        style_img = fit_size(style_img, style_edge)
        ctx.info["style"] = style_src
        style_out = ctx.image_writer("style")
        style_out.add(style_img, name="style")
        outputs = {"style": style_out.finish(source=style_src)}
        loss_net = build_loss_network(ctx, p, rt, ctx.seed)
        ctx.info["layers"] = (
            f"content {', '.join(loss_net.content_layers)}; style "
            f"{', '.join(loss_net.style_layers)}"
        )
        style_t = rt.tensor(style_img)
        if p.method == "auto":  # patch offline, Gatys with VGG19 weights
            p = p.model_copy(update={"method": "optimise" if loss_net.kind == "vgg19" else "patch"})
            ctx.info["method_choice"] = (
                f"method auto: {p.method} ("
                + ("VGG19 weights found" if p.method == "optimise" else "no VGG19 weights: offline")
                + ")"
            )
        if p.method == "optimise":
            outputs["images"] = _optimise(ctx, p, content, style_t, loss_net, rt)
        elif p.method == "feed-forward":
            images, model = _feed_forward(ctx, p, content, style_t, loss_net, rt)
            outputs["images"] = images
            if model is not None:
                outputs["model"] = model
        else:  # patch, or a style optimiser a plugin registered
            outputs["images"] = _registered(ctx, p, content, style_img, style_t, loss_net, rt)
    # a style score no loss network above was trained on, beside the colour-only baseline's
    outputs["baseline"] = record_style_score(
        ctx, content, outputs["images"], style_img, lambda im: fit_size(im, p.size)
    )
    ctx.info["compare"] = {"before": p.images, "after": "images"}
    return outputs


def _scorer(loss_net: Any, style_t: Any, rt: Any):
    """``score(img, result) -> (content_loss, style_loss_drop)`` with the loss network: the
    style loss of the result against that of the content image itself."""
    style_targets = loss_net.style_targets(style_t)

    def score(img: np.ndarray, res: np.ndarray) -> tuple[float, float]:
        x = rt.tensor(img)
        _, s0 = rt.losses(loss_net, x, loss_net.content_targets(x), style_targets)
        if res.shape != img.shape:  # a result of another size: content measured at its size
            x = rt.tensor(resize(img, (res.shape[1], res.shape[0])))
        c1, s1 = rt.losses(loss_net, rt.tensor(res), loss_net.content_targets(x), style_targets)
        return c1, 1.0 - s1 / max(s0, 1e-12)

    return score


# -- optimisation -------------------------------------------------------------------------------
def _optimise(ctx, p, content, style_t, loss_net, rt):
    ctx.info["method"] = (
        f"Gatys et al. 2016: {p.optimiser.upper() if p.optimiser == 'lbfgs' else 'Adam'} on the "
        f"pixels from the {p.init} image"
        + (", luminance only (colours preserved)" if p.preserve_color else "")
    )
    opt = rt.gatys(loss_net, p, ctx.seed)
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

        res = opt.stylize(rt.tensor(img), style_t, on_eval=cb)
        out.add(rt.image(res.image), name=name)
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
def _feed_forward(ctx, p, content, style_t, loss_net, rt):
    from .training import ARCH, LossLog

    model = None
    if p.model is not None:
        art = ctx.model_input(p.model)
        net, meta = rt.load_transformer(art.path, p.model)
        ctx.info["model"] = f"transformation network from {p.model} ({meta.get('style', '?')})"
    elif p.checkpoint is not None:
        path = ctx.resolve_path(p.checkpoint)
        net, meta = rt.load_transformer(path, str(path))
        ctx.info["model"] = f"transformation network from {path} ({meta.get('style', '?')})"
    else:
        train_set = ctx.images(p.train_images) if p.train_images else content
        images = train_set.load_all()
        ctx.info["method"] = (
            f"Johnson et al. 2016: transformation network (width {p.width}) trained for "
            f"{p.steps} steps on {len(images)} image(s), {p.train_size}px crops, batch "
            f"{p.batch_size}"
        )

        def on_step(n, c, s, t):
            ctx.record("content_loss", n, c)
            ctx.record("style_loss", n, s)
            ctx.record("tv_loss", n, t)

        progress = ctx.progress(p.steps, "training style network")
        log = LossLog(p.steps, on_step=on_step, progress=progress)
        net = rt.train_transformer(
            loss_net,
            style_t,
            images,
            p,
            seed=ctx.seed,
            log=log,
            state_path=ctx.work_dir / rt.state_file,
        )
        progress.close()
        stats = log.stats()
        ctx.metrics["train_seconds"] = round(stats.seconds, 2)
        ctx.metrics["train_steps"] = stats.steps
        if stats.resumed_from:
            ctx.info["resumed_from_step"] = stats.resumed_from
        meta = {
            "arch": ARCH,
            "config": getattr(net, "config", None) or {"width": p.width},
            "style": ctx.info.get("style", ""),
            "feature_network": loss_net.description,
            "steps": p.steps,
            "backend": rt.backend,
            **rt.model_meta,
        }
        model = ctx.model_artifact("model", rt.model_file, **meta)
        rt.save_transformer(model.path, net, meta)

    out = ctx.image_writer("images", method="feed-forward")
    # Scored with the same losses as the optimiser (style loss of the content image versus of
    # the stylized image), so that the methods can be compared.
    stylize, score = rt.stylizer(net), _scorer(loss_net, style_t, rt)
    drops, contents, times = [], [], []
    stylize(fit_size(content.load(0), p.size))  # warm-up, not timed
    for i, name in enumerate(content.names):
        img = fit_size(content.load(i), p.size)
        t0 = time.perf_counter()
        res = stylize(img)
        times.append(time.perf_counter() - t0)
        out.add(res, name=name)
        c, d = score(img, res)
        contents.append(c)
        drops.append(d)
    m = ctx.metrics
    m["style_loss_drop"] = round(float(np.mean(drops)), 4)
    m["content_loss_final"] = _g(np.mean(contents))
    m["seconds_per_image"] = round(float(np.median(times)), 4)
    m["images_per_second"] = round(1.0 / max(float(np.median(times)), 1e-9), 3)
    return out.finish(), model


# -- patch, or a registered style optimiser ----------------------------------------------------------
def _registered(ctx, p, content, style_img, style_t, loss_net, rt):
    """Each image through the registered optimiser (artforge.components), scored with the
    loss network as the built-in methods are (style_loss_drop, content_loss_final)."""
    from artforge.components import run_style_optimiser

    score = _scorer(loss_net, style_t, rt)
    return run_style_optimiser(ctx, p, content, style_img, fit_size, score)


def _g(v) -> float:
    """Round to 4 significant digits for the gallery."""
    v = float(v)
    return float(f"{v:.4g}") if np.isfinite(v) else v
