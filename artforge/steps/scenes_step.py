"""The ``synthetic-scenes`` step: paired night/day renderings (see :mod:`artforge.scenes`)."""

from __future__ import annotations

import numpy as np

from artforge.scenes import render_pairs


def run(ctx, p):
    outs = {k: ctx.image_writer(k) for k in ("night", "day", "holdout_night", "holdout_day")}
    total = p.count + p.holdout
    rng = np.random.default_rng(ctx.seed)
    day_order = rng.permutation(p.count) if p.unpaired else np.arange(p.count)
    train_days: dict[int, np.ndarray] = {}
    progress = ctx.progress(total, "rendering scenes")
    for i, night, day in render_pairs(ctx.seed, total, p.size):
        if i < p.count:
            outs["night"].add(night, name=f"scene{i:05d}")
            if p.unpaired:
                train_days[i] = day
            else:
                outs["day"].add(day, name=f"scene{i:05d}")
        else:
            outs["holdout_night"].add(night, name=f"scene{i:05d}")
            outs["holdout_day"].add(day, name=f"scene{i:05d}")
        progress.update()
    progress.close()
    if p.unpaired:
        # Day images come from other scenes than the night image of the same index.
        for j, src in enumerate(day_order):
            outs["day"].add(train_days[int(src)], name=f"day{j:05d}")
    meta = {"size": p.size, "paired": not p.unpaired}
    return {k: w.finish(**meta) for k, w in outs.items()}
