"""Training curves as SVG, drawn with matplotlib's Agg-free SVG canvas (no pyplot state).

One figure per step holds every recorded series: losses (G, D and any other ``*loss*``)
share a panel, each other series (a metric per epoch, a learning rate) gets its own. Each
curve is drawn twice: the raw values faintly and an exponential moving average on top.
Non-finite values (a diverged run) are marked with a red line where they start.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from typing import Any

PALETTE = ("#7cc4ff", "#ff8a65", "#81e6a1", "#f5c451", "#c792ea", "#ff6b9a", "#5ad1d1", "#d4d46a")
FG = "#c9ced6"
GRID = "#2a2f38"
STYLE_VERSION = "7"  # bump when the look changes: cached plots are redrawn

_LOSS_RE = re.compile(r"(^|[^a-z])(loss|g|d|gen|disc|generator|discriminator)([^a-z]|$)", re.I)


def is_loss(name: str) -> bool:
    return bool(_LOSS_RE.search(name)) or "loss" in name.lower()


def clean_series(points: Any) -> tuple[list[float], list[float], float | None]:
    """Finite (x, y) points of a recorded series and the x of its first non-finite value."""
    xs: list[float] = []
    ys: list[float] = []
    bad_x = None
    if not isinstance(points, list):
        return xs, ys, None
    for i, pt in enumerate(points):
        if isinstance(pt, (int, float)):
            x, y = float(i), float(pt)
        elif isinstance(pt, (list, tuple)) and len(pt) >= 2:
            try:
                x, y = float(pt[0]), float(pt[1])
            except (TypeError, ValueError):
                continue
        else:
            continue
        if math.isfinite(x) and math.isfinite(y):
            xs.append(x)
            ys.append(y)
        elif bad_x is None and math.isfinite(x):
            bad_x = x
    return xs, ys, bad_x


def smooth(ys: list[float], n: int) -> list[float]:
    """Exponential moving average with a window that grows with the number of points,
    corrected for its start (as TensorBoard's): it is not pulled towards the first value."""
    if n < 20:
        return ys
    alpha = min(1.0, 10.0 / n)
    out, acc, weight = [], 0.0, 0.0
    for y in ys:
        acc = alpha * y + (1 - alpha) * acc
        weight = alpha + (1 - alpha) * weight
        out.append(acc / weight)
    return out


def panels(series: dict[str, Any]) -> list[list[str]]:
    """Group series names into panels: all losses together, every other series alone."""
    names = [n for n in series if clean_series(series[n])[0] or clean_series(series[n])[2]]
    losses = [n for n in names if is_loss(n)]
    others = [n for n in names if n not in losses]
    return ([losses] if losses else []) + [[n] for n in others]


def _label(name: str) -> str:
    # matplotlib treats "$...$" as mathtext and hides labels that start with "_".
    text = name.replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def x_labels(series: dict[str, Any], hint: Any = None, epochs: Any = None) -> dict[str, str]:
    """The x-axis name of each series: from the record's ``info.series_x`` (a name, or a
    mapping series -> name) or, for a short series on integer x within the step's ``epochs``,
    "epoch"; otherwise "iteration"."""
    out = {}
    for name, points in series.items():
        if isinstance(hint, dict) and isinstance(hint.get(name), str):
            out[name] = hint[name]
            continue
        if isinstance(hint, str) and hint:
            out[name] = hint
            continue
        xs = clean_series(points)[0]
        per_epoch = (
            isinstance(epochs, int)
            and not isinstance(epochs, bool)
            and 0 < len(xs) <= epochs + 1
            and all(x.is_integer() and 0 <= x <= epochs for x in xs)
        )
        out[name] = "epoch" if per_epoch else "iteration"
    return out


def loss_svg(series: dict[str, Any], labels: dict[str, str] | None = None) -> bytes | None:
    """An SVG of every series of one step, or None if there is nothing to draw."""
    labels = labels or {}
    groups = panels(series)
    if not groups:
        return None
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rc = {
        "svg.hashsalt": "artforge",
        "svg.fonttype": "none",
        "font.family": "sans-serif",
        "font.size": 10,
        "axes.edgecolor": GRID,
        "axes.labelcolor": FG,
        "xtick.color": FG,
        "ytick.color": FG,
        "text.color": FG,
        "path.simplify": True,
    }
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(7, 2.6 * len(groups)), layout="constrained")
        FigureCanvasSVG(fig)
        fig.patch.set_alpha(0)
        colour = 0
        for k, names in enumerate(groups):
            ax = fig.add_subplot(len(groups), 1, k + 1)
            ax.set_facecolor("none")
            ax.grid(True, color=GRID, linewidth=0.6)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            lows, highs, bad = [], [], []
            for name in names:
                xs, ys, bad_x = clean_series(series[name])
                c = PALETTE[colour % len(PALETTE)]
                colour += 1
                if bad_x is not None:
                    bad.append((bad_x, name))
                if not xs:
                    continue
                sm = smooth(ys, len(ys))
                if sm is not ys:
                    ax.plot(xs, ys, color=c, alpha=0.25, linewidth=0.8)
                ax.plot(xs, sm, color=c, linewidth=1.6, label=_label(name))
                pos = sorted(y for y in ys if y > 0)
                if len(pos) == len(ys):
                    lows.append(pos[len(pos) // 2])
                    highs.append(pos[-1])
            # Losses of very different scales (an L1 term x100 next to a BCE) share a log axis.
            if len(lows) == len(names) > 1 and max(highs) / max(min(lows), 1e-12) > 20:
                ax.set_yscale("log")
            for bad_x, name in bad:
                ax.axvline(bad_x, color="#ff6b6b", linewidth=1.2, linestyle="--")
                ax.annotate(
                    _label(f"{name}: non-finite from {bad_x:g}"),
                    xy=(bad_x, 1),
                    xycoords=("data", "axes fraction"),
                    xytext=(4, -12),
                    textcoords="offset points",
                    color="#ff6b6b",
                    fontsize=8,
                )
            x_name = labels.get(names[0], "iteration")
            ax.set_xlabel(x_name)
            if x_name in ("epoch", "iteration", "step"):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if len(names) == 1:
                ax.set_ylabel(_label(names[0]))
            else:
                ax.set_ylabel("loss")
            if len(names) > 1:
                leg = ax.legend(
                    loc="upper right", frameon=False, fontsize=8, ncol=min(4, len(names))
                )
                for text in leg.get_texts():
                    text.set_color(FG)
        buf = io.BytesIO()
        with warnings.catch_warnings():
            # a glyph missing from matplotlib's font only affects layout: the browser draws text
            warnings.filterwarnings("ignore", "Glyph .* missing", UserWarning)
            fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
