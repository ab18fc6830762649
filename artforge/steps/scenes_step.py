"""The ``synthetic-scenes`` step: paired night/day renderings (see :mod:`artforge.scenes`).

Scene indices: ``0 .. count-1`` train, then ``holdout`` test pairs, then ``validation``
pairs, then (``unpaired``) ``count`` more scenes whose days are the training days, so the
two unpaired domains never show the same scene.
"""

from __future__ import annotations

import numpy as np

from artforge.scenes import render_pairs

OUTPUTS = ("night", "day", "holdout_night", "holdout_day", "val_night", "val_day")


def run(ctx, p):
    outs = {k: ctx.image_writer(k) for k in OUTPUTS}
    paired = p.count + p.holdout + p.validation
    total = paired + (p.count if p.unpaired else 0)
    rng = np.random.default_rng(ctx.seed)
    day_order = rng.permutation(p.count) if p.unpaired else np.arange(p.count)
    other_days: dict[int, np.ndarray] = {}
    progress = ctx.progress(total, "rendering scenes")
    for i, night, day in render_pairs(ctx.seed, total, p.size):
        name = f"scene{i:05d}"
        if i < p.count:
            outs["night"].add(night, name=name)
            if not p.unpaired:
                outs["day"].add(day, name=name)
        elif i < p.count + p.holdout:
            outs["holdout_night"].add(night, name=name)
            outs["holdout_day"].add(day, name=name)
        elif i < paired:
            outs["val_night"].add(night, name=name)
            outs["val_day"].add(day, name=name)
        else:  # unpaired: the day domain's own scenes (their nights are never written)
            other_days[i - paired] = day
        progress.update()
    progress.close()
    if p.unpaired:
        for j, src in enumerate(day_order):
            outs["day"].add(other_days[int(src)], name=f"day{j:05d}")
    meta = {"size": p.size, "paired": not p.unpaired}
    return {k: w.finish(**meta) for k, w in outs.items()}
