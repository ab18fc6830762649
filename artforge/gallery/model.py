"""What the pages show, computed from a run directory alone (manifest + step records).

Nothing here imports the runner: a finished (or copied, or old) run directory is enough. The
functions turn records into plain view objects that the Jinja2 templates render.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".svg")
MAX_GRID = 400  # thumbnails shown per image output (the zip and the folder hold them all)
MAX_COMPARE = 48  # pairs offered by one comparison slider
BASELINE_WORDS = (
    "baseline",
    "mean_image",
    "affine",
    "colour_matrix",
    "pixel_ridge",
    "bicubic",
    "bilinear",
    "nearest",
    "lanczos",
    "identity",
    "input",
    "random",
    "real",
    "target",
    "reference",
    "naive",
    "means",  # the class-mean images of the sample step's scores
)
HIGHER_IS_BETTER = {"psnr", "ssim", "is", "inception", "accuracy", "acc", "precision", "recall"}
# sample metrics of artforge.manifold (``copies`` and ``flags``: lower is better; density has
# no direction: about 1 for real images)
HIGHER_IS_BETTER |= {"coverage", "diversity", "novelty"}
LOWER_IS_BETTER = {
    "lpips",
    "fid",
    "kid",
    "frechet",
    "mse",
    "mae",
    "rmse",
    "l1",
    "l2",
    "loss",
    "nll",
}
LOWER_IS_BETTER |= {"copies", "flags"}
KEY_METRICS = ("psnr", "y_psnr", "psnr_y", "ssim", "lpips", "fid", "kid", "inception_score", "is")
PRETTY = {
    "psnr": "PSNR (dB)",
    "y_psnr": "PSNR-Y (dB)",
    "psnr_y": "PSNR-Y (dB)",
    "ssim": "SSIM",
    "y_ssim": "SSIM-Y",
    "ms_ssim": "MS-SSIM",
    "lpips": "LPIPS",
    "fid": "FID",
    "kid": "KID",
    "is": "Inception score",
    "inception_score": "Inception score",
}
_NUM_RE = re.compile(r"(\d+)")


# -- small helpers ------------------------------------------------------------------------
def url(rel: str) -> str:
    """A relative URL for a POSIX path inside the gallery (every segment percent-encoded)."""
    return quote(rel, safe="/")


def fmt_num(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 100_000 else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 10_000:
            return f"{v:,.0f}"
        if a >= 0.001:
            return f"{v:.4g}"
        return f"{v:.3e}"
    if v is None:
        return "—"
    if isinstance(v, (list, dict)):
        text = json.dumps(v, default=str)
        return text if len(text) <= 120 else text[:117] + "…"
    return str(v)


def fmt_seconds(s: Any) -> str:
    if not isinstance(s, (int, float)) or not math.isfinite(s):
        return "—"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def fmt_date(iso: Any) -> str:
    if not isinstance(iso, str) or not iso:
        return "—"
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    tz = " UTC" if dt.utcoffset() is not None and not dt.utcoffset() else ""
    return dt.strftime("%Y-%m-%d %H:%M") + tz


def value_text(v: Any) -> str:
    """A parameter or info value as compact text."""
    if isinstance(v, str):
        return v
    return json.dumps(v, default=str, ensure_ascii=False)


def safe_rel(*parts: str) -> str | None:
    """Join path parts (POSIX) and refuse anything that escapes the run directory."""
    rel = posixpath.normpath(posixpath.join(*[p for p in parts if p not in ("", ".")]))
    if rel.startswith(("..", "/")) or "/../" in rel or rel == "..":
        return None
    return rel


def epoch_label(stem: str) -> str:
    m = _NUM_RE.findall(stem)
    if stem.lower().startswith(("epoch", "ep")) and m:
        return f"epoch {int(m[-1])}"
    if stem.lower().startswith(("iter", "step", "it")) and m:
        return f"iteration {int(m[-1])}"
    return stem


def sort_key_numeric(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in _NUM_RE.split(name))


def warning_kind(text: str) -> str:
    t = text.lower()
    if "collapse" in t:
        return "collapse"
    if re.search(r"diverg|\bnan\b|non-finite|\binf\b|explod", t):
        return "divergence"
    return "warning"


WARNING_TITLES = {
    "divergence": "Divergence guard",
    "collapse": "Mode collapse",
    "warning": "Warning",
    "error": "Step failed",
}


def alert(step: str, text: str) -> Alert:
    """An alert for a step warning; a leading "divergence guard:" is not repeated."""
    kind = warning_kind(text)
    title = WARNING_TITLES[kind]
    if text.lower().startswith(title.lower() + ":"):
        text = text[len(title) + 1 :].strip()
    return Alert(step, kind, title, text)


# -- view objects ------------------------------------------------------------------------
@dataclass
class Picture:
    src: str  # original, relative to the run (POSIX, not quoted)
    href: str  # quoted URL of the original
    thumb: str  # quoted URL of the thumbnail
    width: int
    height: int
    twidth: int
    theight: int
    name: str
    caption: str
    alt: str


@dataclass
class ImageOutput:
    name: str
    kind: str  # grid | wide | timeline
    pictures: list[Picture]
    total: int
    folder: str  # quoted URL of the output folder
    missing: int = 0  # files the record lists that could not be read
    label: str = ""  # the recipe's words for it ("night"), else "step · output"
    view: str = "grid"  # the declared view (or the one shown for records that declare none)
    note: str = ""  # why the declared view is not the one shown
    columns: list[str] = field(default_factory=list)  # headers of a sample grid's columns
    cap: int = 16  # thumbnails shown before "show all"
    head: str = ""  # how captions start: "translate · images", "scenes · night"
    folded: bool = False  # wide sheets folded away (the summary shows them as an HTML grid)
    size: str = ""  # bytes of the originals, in words

    @property
    def first(self) -> list[Picture]:
        return self.pictures[: self.cap]

    @property
    def rest(self) -> list[Picture]:
        return self.pictures[self.cap :]

    @property
    def rest_json(self) -> Any:
        """The pictures behind "show all", compactly: shared prefixes once, then per image
        [original, thumbnail, thumbnail width, height, name] after them."""
        from .views import script_json

        rest = self.rest
        if not rest:
            return script_json(None)

        def prefix(xs: list[str]) -> str:
            p = posixpath.commonprefix(xs)
            return p[: p.rfind("/") + 1]

        hp, tp = prefix([p.href for p in rest]), prefix([p.thumb for p in rest])
        return script_json(
            {
                "href": hp,
                "thumb": tp,
                "items": [
                    [p.href[len(hp) :], p.thumb[len(tp) :], p.twidth, p.theight, p.name]
                    for p in rest
                ],
            }
        )


@dataclass
class Pair:
    name: str
    before: str
    after: str
    thumb: str
    width: int
    height: int


@dataclass
class Comparison:
    before_label: str  # "step.output" (what the page's words are made from)
    after_label: str
    pairs: list[Pair]
    total: int
    before_words: str = ""  # the recipe's words for them ("night", "pix2pix day")
    after_words: str = ""


@dataclass
class FileOut:
    name: str
    file: str
    href: str
    size: str
    image: bool
    width: int | None = None
    height: int | None = None
    meta: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ModelOut:
    name: str
    file: str
    href: str
    size: str
    sha256: str | None
    sha_source: str  # "recorded" | "computed" | "missing"
    meta: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class MetricRow:
    key: str
    label: str
    value: str
    baselines: dict[str, str]
    best: str | None  # "model" or a baseline column that is best, when the direction is known
    delta: str | None  # model minus the first baseline
    raw: dict[str, float] = field(default_factory=dict)  # finite numbers: "model" and baselines


@dataclass
class MetricTable:
    columns: list[str]  # baseline names, in order of first appearance
    rows: list[MetricRow]  # every numeric metric
    extra: list[tuple[str, str]]  # non-numeric metrics (text, lists)

    @property
    def compared(self) -> list[MetricRow]:
        """Metrics that have at least one baseline (shown side by side)."""
        return [r for r in self.rows if r.baselines]

    @property
    def plain(self) -> list[MetricRow]:
        return [r for r in self.rows if not r.baselines]


@dataclass
class Alert:
    step: str
    kind: str
    title: str
    text: str


@dataclass
class InputRef:
    param: str
    ref: str
    step: str
    output: str
    kind: str
    sha256: str | None = None


@dataclass
class StepView:
    id: str
    uses: str
    description: str
    status: str
    record: dict | None
    plugin: str = ""
    plugin_version: str = ""
    backend: str = ""
    device: str = ""
    seed: Any = None
    key: str = ""
    started: str = ""
    started_iso: str = ""
    seconds: str = "—"
    params: list[tuple[str, str, str | None]] = field(default_factory=list)
    params_yaml: str = ""
    info: list[tuple[str, str]] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)
    inputs: list[InputRef] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    images: list[ImageOutput] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    files: list[FileOut] = field(default_factory=list)
    models: list[ModelOut] = field(default_factory=list)
    metrics: MetricTable | None = None
    breakdowns: list[Breakdown] = field(default_factory=list)
    plot: str | None = None
    series_names: list[str] = field(default_factory=list)
    zip: str | None = None
    zip_size: str = ""
    provenance: str = ""
    reproduce: str = ""
    error: str = ""
    does: str = ""  # what the step type did, in words (from its type and parameters)
    curves: Any = None  # the JSON the curve view draws (Markup), or None
    curve_count: int = 0
    metric_columns: list[str] = field(default_factory=list)  # baseline columns, in words
    custom: list[CustomOutput] = field(default_factory=list)  # plugin views and file views

    @property
    def image_count(self) -> int:
        return sum(o.total for o in self.images)


@dataclass
class CustomOutput:
    """An output shown by a view other than the image views: ``table`` and ``curve`` (file
    outputs) or a plugin's view (``html``)."""

    name: str
    label: str
    view: str
    html: Any = None  # a plugin view's fragment (Markup)
    table: Breakdown | None = None
    curves: Any = None
    note: str = ""


@dataclass
class ScoreRow:
    label: str
    value: str
    base_label: str  # the strongest baseline, in the recipe's words where it gives them
    base_value: str
    better: bool | None  # True: the model beats every baseline; None: no known direction
    delta: str


@dataclass
class ScoreCard:
    step: str
    title: str  # "translate: pix2pix day vs true day"
    model: str  # the model's column header
    rows: list[ScoreRow]


@dataclass
class CollageGrid:
    step: str
    title: str
    labels: list[str]
    rows: list[list[Picture | None]]
    total: int


# -- metrics -------------------------------------------------------------------------------
def is_breakdown(value: Any) -> bool:
    """A per-item table: a mapping of names (images, classes) to mappings of numbers."""
    return (
        isinstance(value, dict)
        and len(value) > 0
        and all(isinstance(v, dict) and v for v in value.values())
        and all(not isinstance(x, (dict, list)) for v in value.values() for x in v.values())
    )


def flatten(metrics: Any, prefix: str = "") -> dict[str, Any]:
    """Nested metrics as ``a.b`` keys; per-item breakdowns are left out (shown on their own)."""
    out: dict[str, Any] = {}
    if not isinstance(metrics, dict):
        return out
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if is_breakdown(v):
            continue
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def split_baseline(key: str) -> tuple[str, str] | None:
    """``bicubic_psnr`` -> ("bicubic", "psnr"); ``psnr_baseline`` -> ("baseline", "psnr");
    ``val.bicubic_psnr`` -> ("bicubic", "val.psnr")."""
    head, dot, last = key.rpartition(".")
    for word in BASELINE_WORDS:
        if last.startswith(word + "_") and len(last) > len(word) + 1:
            return word, head + dot + last[len(word) + 1 :]
        if last.endswith("_" + word) and len(last) > len(word) + 1:
            return word, head + dot + last[: -len(word) - 1]
    return None


@dataclass
class BreakdownRow:
    name: str
    cells: list[tuple[str, str]]  # (text, sort value: a number as text, or "")
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (label, href, caption)


@dataclass
class Breakdown:
    """A per-item metrics table (e.g. ``metrics.per_image``): a row per item, worst first by
    the first metric whose direction is known."""

    key: str
    columns: list[str]
    rows: list[BreakdownRow]
    sort_col: int = -1  # the column sorted on (index into columns), -1: none
    sort_dir: str = ""  # "ascending" | "descending"
    total: int = 0
    label: str = ""


def breakdowns(metrics: Any, limit: int = 500) -> list[Breakdown]:
    found = []
    if not isinstance(metrics, dict):
        return found
    for key, value in metrics.items():
        if not is_breakdown(value):
            continue
        columns: list[str] = []
        for row in value.values():
            columns.extend(c for c in row if c not in columns)
        items = list(value.items())
        sort_col, sort_dir = -1, ""
        for i, c in enumerate(columns):
            sign = direction(c)
            if sign and split_baseline(c) is None:
                sort_col, sort_dir = i, "ascending" if sign > 0 else "descending"

                def worst(item: tuple[str, Any], c: str = c, sign: int = sign) -> tuple:
                    v = _num(item[1].get(c)) if isinstance(item[1], dict) else None
                    return (v is None, sign * v if v is not None else 0.0)

                items.sort(key=worst)
                break
        rows = [
            BreakdownRow(
                str(name),
                [
                    (
                        fmt_num(row.get(c)),
                        repr(_num(row.get(c))) if _num(row.get(c)) is not None else "",
                    )
                    for c in columns
                ],
            )
            for name, row in items[:limit]
        ]
        found.append(
            Breakdown(
                str(key),
                [metric_label(c) for c in columns],
                rows,
                sort_col,
                sort_dir,
                len(items),
                str(key).replace("_", " "),
            )
        )
    return found


def item_scores(metrics: Any, name: str) -> str:
    """ "y_psnr 28.1 · bicubic_y_psnr 26.4" for one image, from a per-image breakdown."""
    if not isinstance(metrics, dict):
        return ""
    for value in metrics.values():
        if is_breakdown(value) and isinstance(value.get(name), dict):
            return " · ".join(f"{metric_label(k)} {fmt_num(v)}" for k, v in value[name].items())
    return ""


def direction(key: str) -> int:
    tokens = set(re.split(r"[_.\-\s]+", key.lower()))
    if tokens & HIGHER_IS_BETTER:
        return 1
    if tokens & LOWER_IS_BETTER:
        return -1
    return 0


def metric_label(key: str) -> str:
    """A readable name: ``psnr`` -> "PSNR (dB)", ``bicubic_y_psnr`` -> "bicubic PSNR-Y (dB)"."""
    from .words import baseline_name, metric_name

    if key.lower() in PRETTY:
        return PRETTY[key.lower()]
    split = split_baseline(key)
    if split and split[1].lower() in PRETTY:
        return f"{baseline_name(split[0])} {PRETTY[split[1].lower()]}"
    if split:
        return f"{baseline_name(split[0])} {metric_name(split[1])}"
    return metric_name(key)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def metric_table(metrics: Any) -> MetricTable | None:
    flat = flatten(metrics)
    if not flat:
        return None
    numeric = {k: v for k, v in flat.items() if _num(v) is not None or isinstance(v, float)}
    extra = [(k, fmt_num(v)) for k, v in flat.items() if k not in numeric]
    bases: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    columns: list[str] = []
    plain = {k for k in numeric if split_baseline(k) is None}

    def paired(key: str) -> tuple[str, str] | None:
        """(label, model key) when ``key`` is a baseline of a metric the step reports: its
        model value is ``base`` or, for training steps, ``final_base``. ``final_D_real`` (a
        loss series, not a baseline of ``final_D``) stays a plain metric."""
        split = split_baseline(key)
        if split is None:
            return None
        label, base = split
        head, dot, last = base.rpartition(".")
        for candidate in (base, head + dot + "final_" + last):
            if candidate in plain:
                return label, candidate
        return None

    for k, v in numeric.items():
        split = paired(k)
        if split is None:
            if k not in bases:
                bases[k] = {}
                order.append(k)
            bases[k]["__model__"] = v
        else:
            label, base = split
            if base not in bases:
                bases[base] = {}
                order.append(base)
            bases[base][label] = v
            if label not in columns:
                columns.append(label)
    rows = []
    for k in order:
        vals = bases[k]
        model = vals.get("__model__")
        baselines = {c: fmt_num(vals[c]) for c in columns if c in vals}
        best = delta = None
        sign = direction(k)
        mv = _num(model)
        if mv is not None and sign and baselines:
            cands = {"model": mv} | {
                c: _num(vals[c]) for c in columns if _num(vals.get(c)) is not None
            }
            best = max(cands, key=lambda c: sign * cands[c]) if len(cands) > 1 else None
            first = next((c for c in columns if _num(vals.get(c)) is not None), None)
            if first is not None:
                d = mv - _num(vals[first])
                delta = f"{d:+.4g} vs {first}"
        raw = {c: _num(vals[c]) for c in columns if _num(vals.get(c)) is not None}
        if mv is not None:
            raw["model"] = mv
        rows.append(MetricRow(k, metric_label(k), fmt_num(model), baselines, best, delta, raw))
    return MetricTable(columns, rows, extra)


def key_metrics(steps: list[StepView], limit: int = 4) -> list[tuple[str, str, str]]:
    """The headline numbers of a run: (label, value, step id), quality metrics first."""
    found: list[tuple[int, int, str, str, str]] = []
    for n, s in enumerate(steps):
        if not s.metrics:
            continue
        for row in s.metrics.rows:
            if row.value == "—":
                continue
            k = row.key.lower()
            rank = KEY_METRICS.index(k) if k in KEY_METRICS else len(KEY_METRICS) + 1
            if rank > len(KEY_METRICS) and not direction(k):
                continue
            found.append((rank, -n, row.label, row.value, s.id))
    found.sort(key=lambda t: (t[0], t[1]))
    out, seen = [], set()
    for _, _, label, value, sid in found:
        if (label, sid) in seen:
            continue
        seen.add((label, sid))
        out.append((label, value, sid))
        if len(out) == limit:
            break
    return out


# -- the run ---------------------------------------------------------------------------------
@dataclass
class RunView:
    dir: Path
    manifest: dict
    name: str
    title: str
    description: str
    status: str
    started: str
    started_iso: str
    finished: str
    duration: str
    backend: str
    device: str
    seed: Any
    command: str
    reproduce: str
    recipe_text: str
    recipe_file: str
    recipe_sha: str
    overrides: list[str]
    versions: list[tuple[str, str]]
    steps: list[StepView]
    records: dict[str, dict]
    alerts: list[Alert] = field(default_factory=list)
    thumb_size: int = 256
    artforge_version: str = ""
    scores: list[ScoreCard] = field(default_factory=list)
    collage: CollageGrid | None = None
    asked_device: str = ""

    @property
    def image_count(self) -> int:
        return sum(s.image_count for s in self.steps)

    @property
    def step_summary(self) -> str:
        """What this run did with its steps, e.g. "3 (1 ran, 2 reused)"."""
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.status] = counts.get(s.status, 0) + 1
        detail = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"{len(self.steps)} ({detail})" if len(counts) > 1 else str(len(self.steps))


def reproduce_command(manifest: dict) -> str:
    """The command that reproduces the run (the recorded one, plus --set overrides it lacks)."""
    cmd = manifest.get("command") or ""
    recipe = manifest.get("recipe") or {}
    if not cmd:
        cmd = "artforge run " + shlex.quote(str(recipe.get("file") or "RECIPE.yaml"))
    overrides = recipe.get("overrides") or []
    if overrides and "--set" not in cmd:
        cmd += "".join(f" --set {shlex.quote(str(o))}" for o in overrides)
    return cmd


def output_dir(step_id: str, out: dict) -> str | None:
    return safe_rel("steps", step_id, str(out.get("path") or "."))


def image_files(step_id: str, out: dict) -> list[str]:
    """Paths (relative to the run) of an image output's files, in record order."""
    folder = output_dir(step_id, out)
    if folder is None:
        return []
    files = []
    for f in out.get("files") or []:
        rel = safe_rel(folder, str(f))
        if rel and rel.startswith(folder + "/"):
            files.append(rel)
    return files


def single_file(step_id: str, out: dict) -> str | None:
    folder = output_dir(step_id, out)
    if folder is None or not out.get("file"):
        return None
    rel = safe_rel(folder, str(out["file"]))
    return rel if rel and rel.startswith(folder + "/") else None


def output_kind(record: dict, name: str, out: dict) -> str:
    """How an image output is laid out: its declared view (``grid``, ``timeline``, ``wide``;
    ``compare`` shows a grid beside its slider), else the view of a record made before the
    presentation contract."""
    from .views import declared, legacy_view

    view = declared(out)
    if view in ("wide", "timeline", "grid"):
        return view
    if view == "compare":
        return "grid"
    return legacy_view(record, name, out)


def pick_cover(manifest: dict, records: dict[str, dict]) -> str | None:
    """The image that represents a run on the index page."""
    best: tuple[int, int, str] | None = None
    for n, entry in enumerate(manifest.get("steps") or []):
        rec = records.get(str(entry.get("id")))
        if not rec:
            continue
        for name, out in (rec.get("outputs") or {}).items():
            if not isinstance(out, dict) or out.get("kind") != "images":
                continue
            files = image_files(rec.get("id", entry["id"]), out)
            if not files:
                continue
            kind = output_kind(rec, name, out)
            score = {"wide": 3, "grid": 2, "timeline": 1}[kind]
            pick = files[-1] if kind == "timeline" else files[0]
            cand = (score, n, pick)
            if best is None or cand[:2] > best[:2]:
                best = cand
    return best[2] if best else None
