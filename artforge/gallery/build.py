"""Render a run directory into its gallery, and a folder of runs into an index page.

``build_gallery(run_dir)`` reads only ``manifest.json``, ``recipe.yaml`` and the step records
(``steps/<id>/record.json``), never the runner, so a finished run can be re-rendered at any
time (``artforge gallery build RUN_DIR``). It writes::

    run_dir/index.html                   the run page (CSS and JS inlined: one self-contained file)
    run_dir/_gallery/thumbs/...          WebP thumbnails (cached by source size and mtime)
    run_dir/_gallery/plots/<step>.svg    training curves (matplotlib, SVG)
    run_dir/_gallery/downloads/<step>-images.zip
    run_dir/_gallery/metrics.json        every step's metrics, warnings and curves
    run_dir/_gallery/cache.json          what was derived from what

The output is deterministic: the same run directory gives the same bytes, whether or not the
derived files already exist. Everything is written atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from .. import __version__, ownership, safefs
from ..atomic import write_bytes, write_text
from ..errors import ArtforgeError
from ..params import parse_ref
from . import model as M
from . import words as W
from .integrity import RunUnreadable, read_run
from .media import GALLERY_DIR, MAX_ZIP_BYTES, Cache, Thumb, digest, file_signature, write_zip
from .views import (
    GalleryView,
    OutputData,
    builtin_views,
    collect_views,
    render_plugin_view,
    script_json,
    view_of,
)

HERE = Path(__file__).resolve().parent
GENERATOR = "artforge gallery"
INDEX_GENERATOR = "artforge gallery index"
METRICS_FILE = f"{GALLERY_DIR}/metrics.json"
DEFAULT_THUMB = 256
_SLUG_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# -- templates -------------------------------------------------------------------------------
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        css=Markup((HERE / "static" / "gallery.css").read_text(encoding="utf-8").strip()),
        js=Markup((HERE / "static" / "gallery.js").read_text(encoding="utf-8").strip()),
        version=__version__,
    )
    return env


def _slug(step_id: str) -> str:
    """A file-name-safe form of a step id (ids are already safe; records could be edited)."""
    return step_id if _SLUG_RE.match(step_id) else "step-" + digest(step_id)[:12]


# -- the run page --------------------------------------------------------------------------
class _NoStat:
    st_size = 0


MAX_CURVE_POINTS = 4000  # per series on the page (evenly thinned beyond; the record has all)
TABLE_FILE_BYTES = 2_000_000  # a "table" or "curve" file larger than this is only linked


class _RunBuilder:
    def __init__(
        self,
        run_dir: Path,
        manifest: dict,
        records: dict[str, dict],
        views: dict[str, GalleryView] | None = None,
    ):
        self.run_dir = run_dir
        self.manifest = manifest
        self.records = records
        self.views = views if views is not None else builtin_views()
        self.labels = W.recipe_labels(records)
        gallery = manifest.get("gallery") if isinstance(manifest.get("gallery"), dict) else {}
        size = gallery.get("thumbnail_size", DEFAULT_THUMB)
        self.thumb_size = size if isinstance(size, int) and 16 <= size <= 2048 else DEFAULT_THUMB
        self.cache = Cache(run_dir, self.thumb_size)
        self.keep: set[str] = set()
        self.thumbs: dict[str, Thumb] = {}

    # thumbnails of everything shown, made in one parallel batch
    def collect_thumbs(self) -> None:
        wanted: list[str] = []
        for sid, rec in self.records.items():
            for out in (rec.get("outputs") or {}).values():
                if isinstance(out, dict) and out.get("kind") == "images":
                    wanted.extend(M.image_files(sid, out)[: M.MAX_GRID])
        self.thumbs = self.cache.thumbnails(wanted)
        self.keep.update(t.thumb for t in self.thumbs.values())

    def run_view(self) -> M.RunView:
        m = self.manifest
        recipe = m.get("recipe") if isinstance(m.get("recipe"), dict) else {}
        data = safefs.read_bytes(self.run_dir, "recipe.yaml")
        recipe_text = (
            data.decode("utf-8", errors="replace")
            if data is not None
            else "(recipe.yaml is missing from the run directory)"
        )
        steps = [self.step_view(entry) for entry in m["steps"] if isinstance(entry, dict)]
        alerts = [a for s in steps for a in s.alerts]
        asked = str(m.get("device") or recipe.get("device") or "")
        devices = [s.device for s in steps if s.record]
        return M.RunView(
            dir=self.run_dir,
            manifest=m,
            name=str(recipe.get("name") or self.run_dir.name),
            title=str(m.get("title") or recipe.get("name") or self.run_dir.name),
            description=str(recipe.get("description") or ""),
            status=str(m.get("status") or "unknown"),
            started=M.fmt_date(m.get("started")),
            started_iso=str(m.get("started") or ""),
            finished=M.fmt_date(m.get("finished")),
            duration=M.fmt_seconds(m.get("seconds")),
            backend=str(m.get("backend") or "—"),
            device=W.run_device(devices, asked),
            seed=m.get("seed"),
            command=str(m.get("command") or ""),
            reproduce=M.reproduce_command(m),
            recipe_text=recipe_text,
            recipe_file=str(recipe.get("file") or "recipe.yaml"),
            recipe_sha=str(recipe.get("sha256") or ""),
            overrides=[str(o) for o in recipe.get("overrides") or []],
            versions=[(str(k), str(v)) for k, v in (m.get("versions") or {}).items()],
            steps=steps,
            records=self.records,
            alerts=alerts,
            thumb_size=self.thumb_size,
            artforge_version=str(m.get("artforge_version") or ""),
            scores=[c for c in (self.score_card(s) for s in steps) if c],
            collage=self._fold(steps, self.collage_grid()),
            asked_device=asked,
        )

    def _fold(self, steps: list[M.StepView], grid: M.CollageGrid | None) -> M.CollageGrid | None:
        """The collage step's baked sheets fold away once the summary shows its grid."""
        if grid and grid.rows:
            for s in steps:
                if s.id == grid.step:
                    for o in s.images:
                        if o.kind == "wide":
                            o.folded = True
                            o.size = M.fmt_bytes(
                                sum(
                                    (safefs.lstat_file(self.run_dir, p.src) or _NoStat).st_size
                                    for p in o.pictures
                                )
                            )
        return grid

    # -- the summary at the top of the page ----------------------------------------------
    def score_card(self, s: M.StepView, limit: int = 3) -> M.ScoreCard | None:
        """A scored step's headline metrics beside its strongest baseline."""
        if not s.metrics or not s.metrics.compared:
            return None
        ranked = sorted(
            s.metrics.compared,
            key=lambda r: (
                M.KEY_METRICS.index(r.key.lower())
                if r.key.lower() in M.KEY_METRICS
                else len(M.KEY_METRICS) + (0 if M.direction(r.key) else 1)
            ),
        )
        rows = []
        for r in ranked[:limit]:
            sign = M.direction(r.key)
            model = r.raw.get("model")
            bases = {c: v for c, v in r.raw.items() if c != "model"}
            if not bases:
                continue
            best = max(bases, key=lambda c: sign * bases[c]) if sign else next(iter(bases))
            better = None
            delta = ""
            if sign and model is not None:
                better = sign * model > sign * bases[best]
                d = model - bases[best]
                unit = " dB" if "(dB)" in r.label else ""
                delta = f"{d:+.3g}{unit}"
            word = best
            strongest = ((s.record or {}).get("metrics") or {}).get("strongest_baseline")
            if best == "baseline" and isinstance(strongest, str) and strongest:
                word = strongest  # translate names the baseline it reports as "baseline"
            rows.append(
                M.ScoreRow(
                    r.label,
                    r.value,
                    W.baseline_name(word, self.labels, s.id),
                    M.fmt_num(bases[best]),
                    better,
                    delta,
                )
            )
        if not rows:
            return None
        main = next((o for o in s.images if o.view in ("grid", "compare")), None)
        model = (
            main.label if main and not main.label.startswith(s.id + " · ") else self._model_name(s)
        )
        target = self._target_label(s)
        title = f"{s.id}: {model}" + (f" vs {target}" if target else "")
        return M.ScoreCard(s.id, title, model, rows)

    def _model_name(self, s: M.StepView) -> str:
        """What made a step's results: its ``method``, or the ``model`` of the step that
        trained the checkpoint it used ("pix2pix"), else the step id."""
        params = (s.record or {}).get("params")
        params = params if isinstance(params, dict) else {}
        for key in ("method", "model"):
            v = params.get(key)
            ref = parse_ref(v)
            if ref:
                up = (self.records.get(ref[0]) or {}).get("params") or {}
                v = up.get("model") or up.get("method") if isinstance(up, dict) else None
            if isinstance(v, str) and v:
                return v
        return s.id

    def _target_label(self, s: M.StepView) -> str:
        """What a scored step was scored against, in the recipe's words ("true day")."""
        params = (s.record or {}).get("params")
        params = params if isinstance(params, dict) else {}
        keys = ["target"] + (["images"] if params.get("mode") == "evaluate" else [])
        for key in keys:
            ref = params.get(key)
            if isinstance(ref, str) and ref in self.labels:
                return self.labels[ref]
        return ""

    def collage_grid(self, limit: int = 6) -> M.CollageGrid | None:
        """The recipe's (last) collage as an HTML grid: a labelled column per image set."""
        for entry in reversed(self.manifest.get("steps") or []):
            rec = self.records.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if not rec or rec.get("uses") != "collage":
                continue
            params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
            sets = params.get("sets") if isinstance(params.get("sets"), list) else []
            if params.get("layout", "columns") != "columns" or not sets:
                continue
            labels = params.get("labels") if isinstance(params.get("labels"), list) else []
            columns: list[list[str]] = []
            names: list[str] = []
            for k, ref in enumerate(sets):
                got = parse_ref(ref)
                out = (
                    ((self.records.get(got[0]) or {}).get("outputs") or {}).get(got[1])
                    if got
                    else None
                )
                files = M.image_files(got[0], out) if isinstance(out, dict) else []
                columns.append(files)
                label = labels[k] if k < len(labels) and isinstance(labels[k], str) else str(ref)
                names.append(label)
            count = min((len(c) for c in columns), default=0)
            lim = params.get("limit")
            if isinstance(lim, int) and lim > 0:
                count = min(count, lim)
            rows = []
            for i in range(min(count, limit)):
                row: list[M.Picture | None] = []
                for label, files in zip(names, columns):
                    t = self.thumbs.get(files[i])
                    if t is None:
                        row.append(None)
                        continue
                    stem = Path(files[i]).stem
                    row.append(
                        M.Picture(
                            files[i],
                            M.url(files[i]),
                            M.url(t.thumb),
                            t.width,
                            t.height,
                            t.twidth,
                            t.theight,
                            stem,
                            f"{label} · {stem}",
                            f"{label}: {stem}",
                        )
                    )
                rows.append(row)
            title = str(params.get("title") or entry.get("description") or "Collage")
            return M.CollageGrid(str(rec.get("id") or entry["id"]), title, names, rows, count)
        return None

    def step_view(self, entry: dict) -> M.StepView:
        sid = str(entry["id"])
        rec = self.records.get(sid)
        status = str(entry.get("status") or ("ok" if rec else "pending"))
        s = M.StepView(
            id=sid,
            uses=str((rec or {}).get("uses") or entry.get("uses") or "?"),
            description=str(entry.get("description") or ""),
            status=status,
            record=rec,
        )
        if rec:
            params0 = rec.get("params") if isinstance(rec.get("params"), dict) else {}
            s.does = W.step_description(s.uses, params0, self.records, self.labels) or ""
        s.reproduce = M.reproduce_command(self.manifest) + f" --force {sid}"
        if entry.get("error"):
            s.error = str(entry["error"])
            s.alerts.append(M.Alert(sid, "error", M.WARNING_TITLES["error"], s.error))
        if not rec:
            s.provenance = f"{sid} · {s.uses} · {status}"
            return s
        s.plugin = str(rec.get("plugin") or "")
        s.plugin_version = str(rec.get("plugin_version") or "")
        s.backend = str(rec.get("backend") or "")
        s.device = W.resolved_device(rec)
        s.seed = rec.get("seed")
        s.key = str(rec.get("key") or "")
        s.started_iso = str(rec.get("started") or "")
        s.started = M.fmt_date(rec.get("started"))
        s.seconds = M.fmt_seconds(rec.get("seconds"))
        params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
        s.params = [
            (str(k), M.value_text(v), (parse_ref(v) or (None,))[0]) for k, v in params.items()
        ]
        info = rec.get("info") if isinstance(rec.get("info"), dict) else {}
        s.info = [(str(k), M.value_text(v)) for k, v in info.items() if k != "compare"]
        s.versions = [(str(k), str(v)) for k, v in (rec.get("versions") or {}).items()]
        for w in rec.get("warnings") or []:
            s.alerts.append(M.alert(sid, str(w)))
        for flag, kind in (("diverged", "divergence"), ("mode_collapse", "collapse")):
            if info.get(flag) and not any(a.kind == kind for a in s.alerts):
                text = info[flag] if isinstance(info[flag], str) else f"info.{flag} is set"
                s.alerts.append(M.Alert(sid, kind, M.WARNING_TITLES[kind], text))
        s.inputs = self.inputs_of(params)
        self.outputs_of(s, rec)
        self.custom_outputs(s, rec)
        s.comparisons = self.comparisons_of(s, rec, params)
        for c in s.comparisons:
            b, a = c.before_label.split(".", 1), c.after_label.split(".", 1)
            c.before_words = (
                W.output_label(b[0], b[1], self.labels) if len(b) == 2 else c.before_label
            )
            c.after_words = (
                W.output_label(a[0], a[1], self.labels) if len(a) == 2 else c.after_label
            )
        s.metrics = M.metric_table(rec.get("metrics"))
        if s.metrics:
            s.metric_columns = [W.baseline_name(c, self.labels, sid) for c in s.metrics.columns]
        s.breakdowns = M.breakdowns(rec.get("metrics"))
        self.link_breakdowns(s)
        self.plot_of(s, rec)
        self.zip_of(s, rec)
        ckpt = next((i.sha256 for i in s.inputs if i.sha256), None) or next(
            (mo.sha256 for mo in s.models if mo.sha256), None
        )
        s.provenance = " · ".join(
            p
            for p in (
                f"step {sid} ({s.uses})",
                f"{s.plugin} {s.plugin_version}".strip(),
                f"{s.backend or 'no backend'} on {s.device}",
                f"seed {s.seed}",
                f"checkpoint {ckpt[:12]}" if ckpt else "",
                s.seconds,
            )
            if p
        )
        return s

    def inputs_of(self, params: dict) -> list[M.InputRef]:
        found: list[M.InputRef] = []

        def walk(value: Any, path: str) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, f"{path}.{k}" if path else str(k))
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, f"{path}[{i}]")
            else:
                ref = parse_ref(value)
                if not ref:
                    return
                rec = self.records.get(ref[0]) or {}
                out = (rec.get("outputs") or {}).get(ref[1])
                kind = out.get("kind", "?") if isinstance(out, dict) else "missing"
                sha = None
                if kind == "model":
                    sha = self.model_sha(ref[0], out)[0]
                found.append(M.InputRef(path, value, ref[0], ref[1], kind, sha))

        walk(params, "")
        return found

    def model_sha(self, sid: str, out: dict) -> tuple[str | None, str]:
        """The SHA-256 of the checkpoint file on disk (never only the recorded one), and
        where it comes from: "file on disk", with a note when it differs from the hash the
        step recorded, or "missing"."""
        meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
        recorded = meta.get("sha256") if isinstance(meta.get("sha256"), str) else None
        rel = M.single_file(sid, out)
        sha = self.cache.sha256(rel) if rel else None
        if sha is None:
            return None, "missing"
        if recorded and recorded != sha:
            return sha, f"file on disk; the step recorded {recorded[:12]}, the file has changed"
        return sha, "file on disk"

    def outputs_of(self, s: M.StepView, rec: dict) -> None:
        for name, out in (rec.get("outputs") or {}).items():
            if not isinstance(out, dict):
                continue
            kind = out.get("kind")
            view = self.views.get(view_of(rec, str(name), out, self.views)[0])
            if view is not None and view.render is not None:
                continue  # a plugin's view shows it (custom_outputs)
            if kind == "images":
                s.images.append(self.image_output(s, rec, str(name), out))
            elif kind == "model":
                rel = M.single_file(s.id, out)
                sha, source = self.model_sha(s.id, out)
                meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
                s.models.append(
                    M.ModelOut(
                        name=str(name),
                        file=str(out.get("file")),
                        href=M.url(rel) if rel else "",
                        size=self.size_of(rel),
                        sha256=sha,
                        sha_source=source,
                        meta=[(str(k), M.value_text(v)) for k, v in meta.items() if k != "sha256"],
                    )
                )
            elif kind == "file":
                rel = M.single_file(s.id, out)
                if not rel:
                    continue
                is_image = rel.lower().endswith(M.IMAGE_FILE_SUFFIXES)
                dims = self.cache.dimensions(rel) if is_image and not rel.endswith(".svg") else None
                meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
                s.files.append(
                    M.FileOut(
                        name=str(name),
                        file=str(out.get("file")),
                        href=M.url(rel),
                        size=self.size_of(rel),
                        image=is_image and bool(safefs.regular_file(self.run_dir, rel)),
                        width=dims[0] if dims else None,
                        height=dims[1] if dims else None,
                        meta=[(str(k), M.value_text(v)) for k, v in meta.items()],
                    )
                )

    def size_of(self, rel: str | None) -> str:
        st = safefs.lstat_file(self.run_dir, rel) if rel else None
        return M.fmt_bytes(st.st_size) if st else "missing"

    def image_output(self, s: M.StepView, rec: dict, name: str, out: dict) -> M.ImageOutput:
        files = M.image_files(s.id, out)
        kind = M.output_kind(rec, name, out)
        view, note = view_of(rec, name, out, self.views)
        labels = out.get("labels") if isinstance(out.get("labels"), list) else None
        shown = files[: M.MAX_GRID]
        if kind == "timeline":
            order = sorted(range(len(shown)), key=lambda i: M.sort_key_numeric(shown[i]))
        else:
            order = list(range(len(shown)))
        pictures = []
        for i in order:
            t = self.thumbs.get(shown[i])
            if t is None:
                continue
            stem = Path(shown[i]).stem
            caption = M.epoch_label(stem) if kind == "timeline" else stem
            if kind != "timeline":
                caption += f" · {t.width}×{t.height}"
            if labels and i < len(labels):
                caption += f" · label {labels[i]}"
            scores = M.item_scores(rec.get("metrics"), stem)
            if scores:
                caption += f" · {scores}"
            pictures.append(
                M.Picture(
                    src=shown[i],
                    href=M.url(shown[i]),
                    thumb=M.url(t.thumb),
                    width=t.width,
                    height=t.height,
                    twidth=t.twidth,
                    theight=t.theight,
                    name=stem,
                    caption=caption,
                    alt=f"{s.id} / {name}: {M.epoch_label(stem) if kind == 'timeline' else stem}",
                )
            )
        folder = M.output_dir(s.id, out) or f"steps/{s.id}"
        return M.ImageOutput(
            name=name,
            kind=kind,
            pictures=pictures,
            total=len(files),
            folder=M.url(folder),
            missing=len(shown) - len(pictures),
            label=(label := W.output_label(s.id, name, self.labels)),
            head=label if label.startswith(s.id + " · ") else f"{s.id} · {label}",
            view=view if view in ("grid", "timeline", "wide", "compare") else kind,
            note=note,
            columns=self.sample_columns(rec, out) if kind == "timeline" else [],
        )

    @staticmethod
    def sample_columns(rec: dict, out: dict) -> list[str]:
        """Headers of the columns of a per-epoch sample grid: the output's ``columns``
        metadata, else those the built-in translation trainers draw."""
        meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
        cols = meta.get("columns")
        if isinstance(cols, list) and all(isinstance(c, str) for c in cols):
            return [str(c) for c in cols]
        params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
        model = str(params.get("model") or "")
        if rec.get("uses") == "train-gan" and model == "pix2pix":
            return ["input", "generated", "target"]
        if rec.get("uses") == "train-gan" and model == "cyclegan":
            return ["real", "translated", "translated back"]
        return []

    # -- outputs shown by other views: file tables and curves, plugin views ----------------
    def custom_outputs(self, s: M.StepView, rec: dict) -> None:
        for name, out in (rec.get("outputs") or {}).items():
            if not isinstance(out, dict):
                continue
            view, note = view_of(rec, str(name), out, self.views)
            label = W.output_label(s.id, str(name), self.labels)
            gv = self.views.get(view)
            if gv is not None and gv.render is not None:
                data = self.output_data(s, rec, str(name), out, label)
                html, error = render_plugin_view(gv, data)
                if error:
                    s.alerts.append(M.Alert(s.id, "warning", "Gallery view", error))
                s.custom.append(M.CustomOutput(str(name), label, view, html=html, note=error))
            elif view in ("table", "curve"):
                rel = M.single_file(s.id, out)
                text = self.read_text(rel) if rel else None
                c = M.CustomOutput(str(name), label, view, note=note)
                if text is None:
                    c.note = "the file is missing, too large or not text; see the step's files"
                elif view == "table":
                    c.table = table_from_text(text, rel or "")
                    if c.table is None:
                        c.note = "the file is not a JSON table or CSV"
                else:
                    c.curves = self.curves_json(curves_from_text(text), {}, None)
                    if c.curves is None:
                        c.note = 'the file is not {"series": {name: [[x, y], ...]}}'
                s.custom.append(c)
            elif note and out.get("kind") != "images":
                s.custom.append(M.CustomOutput(str(name), label, view, note=note))

    def read_text(self, rel: str) -> str | None:
        st = safefs.lstat_file(self.run_dir, rel)
        if st is None or st.st_size > TABLE_FILE_BYTES:
            return None
        data = safefs.read_bytes(self.run_dir, rel)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def output_data(self, s: M.StepView, rec: dict, name: str, out: dict, label: str) -> OutputData:
        kind = str(out.get("kind") or "")
        if kind == "images":
            files = M.image_files(s.id, out)
        else:
            one = M.single_file(s.id, out)
            files = [one] if one else []
        thumbs = [M.url(self.thumbs[f].thumb) for f in files if f in self.thumbs]
        by_url = {M.url(f): f for f in files}

        def read(url: str) -> str | None:
            rel = by_url.get(url)
            return self.read_text(rel) if rel else None

        meta = out.get("meta") if isinstance(out.get("meta"), dict) else {}
        return OutputData(
            step=s.id,
            name=name,
            kind=kind,
            label=label,
            files=[(M.url(f), Path(f).name) for f in files],
            thumbs=thumbs if kind == "images" else [],
            meta=dict(meta),
            record=rec,
            read_text=read,
        )

    # -- per-image tables: each row opens its images ----------------------------------------
    def link_breakdowns(self, s: M.StepView) -> None:
        sources: list[tuple[str, dict[str, str]]] = []  # (label, stem -> file)
        for o in s.images:
            if o.kind == "timeline":
                continue
            out = ((s.record or {}).get("outputs") or {}).get(o.name)
            if isinstance(out, dict):
                files = M.image_files(s.id, out)
                sources.append((o.label, {Path(f).stem: f for f in files}))
        compared = {c.before_label for c in s.comparisons}
        for i in s.inputs:
            if i.kind != "images" or f"{i.step}.{i.output}" not in compared:
                continue
            out = ((self.records.get(i.step) or {}).get("outputs") or {}).get(i.output)
            if isinstance(out, dict):
                files = M.image_files(i.step, out)
                sources.append(
                    (
                        W.output_label(i.step, i.output, self.labels),
                        {Path(f).stem: f for f in files},
                    )
                )
        for b in s.breakdowns:
            for row in b.rows:
                for label, by_stem in sources:
                    f = by_stem.get(row.name)
                    if f:
                        row.links.append((label, M.url(f), f"{s.id} · {row.name} · {label}"))

    def comparisons_of(self, s: M.StepView, rec: dict, params: dict) -> list[M.Comparison]:
        """Before/after pairs: an image input and an image output with the same file names."""
        # outputs that ask for a slider, and those of records made before the contract
        outputs = {
            o.name: o
            for o in s.images
            if o.kind == "grid"
            and o.pictures
            and (
                o.view == "compare"
                or (o.view == "grid" and not o.note and not self._declares(rec, o.name))
            )
        }
        candidates: list[tuple[str, str]] = []  # (before ref, after output name)
        hint = rec["info"].get("compare")
        hinted = isinstance(hint, dict) and parse_ref(hint.get("before")) and hint.get("after")
        afters = [str(hint["after"])] if hinted else list(outputs)  # a hint names the result
        auto = [(i.ref, name) for name in afters for i in s.inputs if i.kind == "images"]
        if hinted:
            candidates.append((hint["before"], str(hint["after"])))
        found: list[tuple[tuple[int, int], M.Comparison]] = []
        seen: set[tuple[str, str]] = set()
        for n, (ref, after_name) in enumerate(candidates + auto):
            if (ref, after_name) in seen or after_name not in outputs:
                continue
            seen.add((ref, after_name))
            bstep, bout = parse_ref(ref)
            brec = (self.records.get(bstep) or {}).get("outputs", {}).get(bout)
            if not isinstance(brec, dict) or brec.get("kind") != "images":
                continue
            before_by_stem = {Path(f).stem: f for f in M.image_files(bstep, brec)}
            pairs = []
            total = 0
            for pic in outputs[after_name].pictures:
                b = before_by_stem.get(pic.name)
                if b is None or b == pic.src:
                    continue
                total += 1
                if len(pairs) < M.MAX_COMPARE:
                    pairs.append(
                        M.Pair(pic.name, M.url(b), pic.href, pic.thumb, pic.width, pic.height)
                    )
            if pairs:
                comp = M.Comparison(f"{bstep}.{bout}", f"{s.id}.{after_name}", pairs, total)
                found.append(((0, 0) if n < len(candidates) else (1, -total), comp))
        # The plugin's hint first, then the best-matching inputs; at most two sliders per
        # output (e.g. bicubic and the original for super-resolution, input and target).
        found.sort(key=lambda t: t[0])
        per_output: dict[str, int] = {}
        result = []
        for _, comp in found:
            n = per_output.get(comp.after_label, 0)
            if n < 2:
                per_output[comp.after_label] = n + 1
                result.append(comp)
        return result

    @staticmethod
    def _declares(rec: dict, name: str) -> bool:
        from .views import declared

        out = (rec.get("outputs") or {}).get(name)
        return isinstance(out, dict) and declared(out) is not None

    def curves_json(self, series: Any, labels: dict[str, str], info: Any) -> Any:
        """The data the page's curve view draws: raw points per series (finite ones), the
        x of the first non-finite value, x-axis names and panels."""
        from .plots import clean_series, panels

        if not isinstance(series, dict) or not series:
            return None
        groups = panels(series)
        if not groups:
            return None
        data: dict[str, Any] = {"panels": [], "series": {}}
        for names in groups:
            data["panels"].append(
                {"names": names, "x": labels.get(names[0], "iteration"), "loss": len(names) > 1}
            )
            for name in names:
                xs, ys, bad = clean_series(series[name])
                n = len(xs)
                stride = max(1, -(-n // MAX_CURVE_POINTS))
                pts = [[xs[i], ys[i]] for i in range(0, n, stride)]
                if stride > 1 and pts and pts[-1][0] != xs[-1]:
                    pts.append([xs[-1], ys[-1]])
                entry: dict[str, Any] = {"points": pts, "label": W.metric_name(name)}
                if stride > 1:
                    entry["thinned"] = f"every {stride}th of {n} points"
                if bad is not None:
                    entry["bad"] = bad
                data["series"][name] = entry
        return script_json(data)

    def plot_of(self, s: M.StepView, rec: dict) -> None:
        from .plots import STYLE_VERSION, clean_series, loss_svg, panels, x_labels

        series = rec.get("series")
        if not isinstance(series, dict) or not panels(series):
            return
        info = rec.get("info") if isinstance(rec.get("info"), dict) else {}
        params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
        labels = x_labels(series, info.get("series_x"), params.get("epochs"))
        target = f"{GALLERY_DIR}/plots/{_slug(s.id)}.svg"
        signature = digest(
            STYLE_VERSION + json.dumps([labels, series], sort_keys=True, default=str)
        )
        if not self.cache.fresh(target, signature):
            try:
                svg = loss_svg(series, labels)
            except (ValueError, OverflowError, ArithmeticError) as exc:  # e.g. 1e308 losses
                s.alerts.append(
                    M.Alert(
                        s.id,
                        "divergence",
                        M.WARNING_TITLES["divergence"],
                        f"the training curves cannot be drawn ({exc})",
                    )
                )
                return
            if svg is None:
                return
            write_bytes(safefs.writable(self.run_dir, target), svg)
            self.cache.made(target, signature)
        self.keep.add(target)
        s.plot = M.url(target)
        s.series_names = [n for group in panels(series) for n in group]
        s.curves = self.curves_json(series, labels, info)
        s.curve_count = len(s.series_names)
        for name, points in series.items():
            bad = clean_series(points)[2]
            if bad is not None and not any(a.kind == "divergence" for a in s.alerts):
                s.alerts.append(
                    M.Alert(
                        s.id,
                        "divergence",
                        M.WARNING_TITLES["divergence"],
                        f"the curve '{name}' has non-finite values from {bad:g} on",
                    )
                )

    def zip_of(self, s: M.StepView, rec: dict) -> None:
        members: list[tuple[str, str]] = []
        for name, out in (rec.get("outputs") or {}).items():
            if isinstance(out, dict) and out.get("kind") == "images":
                folder = M.output_dir(s.id, out) or ""
                for f in M.image_files(s.id, out):
                    if safefs.regular_file(self.run_dir, f):  # never a link
                        members.append((f, f"{s.id}/{name}/{f[len(folder) + 1 :]}"))
        if not members:
            return
        total = sum(safefs.lstat_file(self.run_dir, f).st_size for f, _ in members)
        if total > MAX_ZIP_BYTES:
            return
        target = f"{GALLERY_DIR}/downloads/{_slug(s.id)}-images.zip"
        signature = file_signature(self.run_dir, [f for f, _ in members]) + str(len(members))
        if not self.cache.fresh(target, signature):
            write_zip(self.run_dir, target, members)
            self.cache.made(target, signature)
        self.keep.add(target)
        s.zip = M.url(target)
        s.zip_size = M.fmt_bytes(safefs.lstat_file(self.run_dir, target).st_size)

    def metrics_json(self, run: M.RunView) -> str:
        steps = {}
        for s in run.steps:
            rec = s.record or {}
            steps[s.id] = {
                "uses": s.uses,
                "status": s.status,
                "metrics": rec.get("metrics") or {},
                "warnings": rec.get("warnings") or [],
                "series": rec.get("series") or {},
                "seconds": rec.get("seconds"),
            }
        data = {
            "run": run.name,
            "title": run.title,
            "started": run.started_iso,
            "status": run.status,
            "seed": run.seed,
            "backend": run.backend,
            "device": run.device,
            "command": run.reproduce,
            "steps": steps,
        }
        return json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n"


def table_from_text(text: str, name: str) -> M.Breakdown | None:
    """A ``table`` view's rows: JSON (a list of rows, or a mapping name -> row) or CSV."""
    import csv
    import io

    rows: dict[str, dict] = {}
    if name.lower().endswith(".csv"):
        reader = list(csv.reader(io.StringIO(text)))
        if len(reader) < 2:
            return None
        head = reader[0]
        for k, line in enumerate(reader[1:]):
            cells = {}
            for h, v in zip(head[1:], line[1:]):
                try:
                    cells[h] = float(v)
                except ValueError:
                    cells[h] = v
            rows[line[0] if line else str(k)] = cells
    else:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if isinstance(data, list):
            rows = {str(k): r for k, r in enumerate(data) if isinstance(r, dict)}
        elif isinstance(data, dict):
            rows = {str(k): r for k, r in data.items() if isinstance(r, dict)}
    rows = {
        k: {c: v for c, v in r.items() if not isinstance(v, (dict, list))} for k, r in rows.items()
    }
    rows = {k: r for k, r in rows.items() if r}
    if not rows:
        return None
    found = M.breakdowns({"table": rows})
    return found[0] if found else None


def curves_from_text(text: str) -> Any:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get("series") if isinstance(data, dict) else None


def _read(run_dir: Path) -> tuple[dict, dict[str, dict]]:
    if not ownership.is_run_dir(run_dir):
        raise ArtforgeError(
            f"{run_dir} is not an artforge run directory (no {ownership.MARKER} marker, nor "
            "artforge's manifest.json beside a steps/ folder); nothing was written",
            hint="give the folder a run wrote, e.g. gallery/<recipe name>",
        )
    # pages, thumbnails, zips and caches never read or write through a link
    safefs.refuse_links(run_dir, f"build the gallery of {run_dir}")
    if ownership.read_marker(run_dir) is None:
        ownership.claim(run_dir)  # an earlier version's run: adopted, as `artforge run` does
    got = read_run(run_dir)  # RunUnreadable (exit status 2) for a damaged or edited file
    if got is None:
        raise ArtforgeError(
            f"{run_dir} is not an artforge run directory (no readable manifest.json)",
            hint="give the folder a run wrote, e.g. gallery/<recipe name>",
        )
    return got


def _is_run(path: Path) -> bool:
    return not path.is_symlink() and (path / "manifest.json").is_file()


def _owns_index(root: Path) -> bool:
    """True if ``root/index.html`` is missing or was written by artforge (safe to replace)."""
    page = root / "index.html"
    try:
        head = page.read_text(encoding="utf-8", errors="replace")[:2000]
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return f'content="{INDEX_GENERATOR}"' in head


def wants_index(root: Path) -> bool:
    """Should the folder holding a run get (or keep) a top-level index of runs?

    Yes for the default ``gallery/`` folder, for any folder already holding an artforge
    index, and for any folder holding two runs or more; never over a foreign index.html.
    """
    if not root.is_dir() or not _owns_index(root):
        return False
    if (root / "index.html").is_file() or root.name == "gallery":
        return True
    return sum(1 for p in root.iterdir() if p.is_dir() and _is_run(p)) >= 2


def build_gallery(run_dir: Path, host: Any = None) -> Path:
    """Write ``run_dir/index.html`` and its derived files; refresh the parent's index of runs.

    ``host`` (a :class:`artforge.plugins.PluginHost`) gives the plugins' gallery views; by
    default the installed plugins'."""
    run_dir = Path(run_dir)
    manifest, records = _read(run_dir)
    builder = _RunBuilder(run_dir, manifest, records, collect_views(host or _default_host()))
    builder.collect_thumbs()
    run = builder.run_view()
    write_text(safefs.writable(run_dir, METRICS_FILE), builder.metrics_json(run))
    builder.keep.add(METRICS_FILE)
    parent = run_dir.resolve().parent
    with_index = wants_index(parent)
    html = (
        _env()
        .get_template("run.html")
        .render(
            run=run,
            generator=GENERATOR,
            index_href="../index.html" if with_index else None,
            metrics_href=M.url(METRICS_FILE),
        )
    )
    page = safefs.writable(run_dir, "index.html")
    write_text(page, html)
    builder.cache.prune(builder.keep)
    builder.cache.save()
    if with_index:
        build_index(parent)
    return page


def _default_host() -> Any:
    """The installed plugins (for their gallery views); None if they cannot be loaded."""
    try:
        from ..plugins import PluginHost

        return PluginHost()
    except ArtforgeError:
        return None


def _run_card(run_dir: Path) -> dict[str, Any] | None:
    """The index card of a run; a run that cannot be read gets an "unreadable" card, so
    one damaged run never keeps its neighbours out of the index."""
    try:
        return _card_of(run_dir)
    except RunUnreadable as exc:
        problem = f"{Path(exc.file).relative_to(run_dir)}: {exc.problem}"
    except Exception as exc:  # noqa: BLE001 - whatever is wrong in one run stays on its card
        problem = f"{type(exc).__name__}: {exc}"
    return _unreadable_card(run_dir, problem)


def _unreadable_card(run_dir: Path, problem: str) -> dict[str, Any]:
    name = run_dir.name
    return {
        "href": None,
        "dir": name,
        "name": name,
        "title": name,
        "started": "—",
        "started_iso": "",
        "status": "unreadable",
        "backend": "—",
        "device": "—",
        "duration": "—",
        "steps": 0,
        "metrics": [],
        "headline": {},
        "params": {},
        "images": {},
        "seconds": None,
        "warnings": 0,
        "kinds": [],
        "severe": True,
        "failed": 0,
        "cover": None,
        "cover_alt": "",
        "cover_w": 0,
        "cover_h": 0,
        "cover_px": False,
        "unreadable": problem,
    }


def _card_of(run_dir: Path) -> dict[str, Any] | None:
    got = read_run(run_dir)
    if got is None:
        return None
    manifest, records = got
    recipe = manifest.get("recipe") if isinstance(manifest.get("recipe"), dict) else {}
    builder = _RunBuilder(run_dir, manifest, records)
    steps: list[M.StepView] = []
    warnings = failed = 0
    kinds: list[str] = []
    for entry in manifest["steps"]:
        if not isinstance(entry, dict) or "id" not in entry:
            continue
        rec = records.get(str(entry["id"])) or {}
        view = M.StepView(str(entry["id"]), str(entry.get("uses") or ""), "", "", rec)
        view.metrics = M.metric_table(rec.get("metrics"))
        steps.append(view)
        for w in rec.get("warnings") or []:
            warnings += 1
            kind = M.warning_kind(str(w))
            if kind != "warning" and M.WARNING_TITLES[kind].lower() not in kinds:
                kinds.append(M.WARNING_TITLES[kind].lower())
        if entry.get("status") in ("failed", "interrupted"):
            failed += 1
    has_page = (run_dir / "index.html").is_file()
    devices = [W.resolved_device(r) for r in records.values()]
    cover = M.pick_cover(manifest, records)
    thumb = None
    owned = ownership.is_run_dir(run_dir) and safefs.find_link(run_dir) is None
    if cover and has_page and owned:  # derived files go only into runs that have a gallery
        thumb = builder.cache.thumbnails([cover]).get(cover)
        builder.cache.save()
    name = run_dir.name
    return {
        "href": M.url(f"{name}/index.html") if has_page else None,
        "dir": name,
        "name": str(recipe.get("name") or name),
        "title": str(manifest.get("title") or recipe.get("name") or name),
        "started": M.fmt_date(manifest.get("started")),
        "started_iso": str(manifest.get("started") or ""),
        "status": str(manifest.get("status") or "unknown"),
        "backend": str(manifest.get("backend") or "—"),
        "device": W.run_device(devices, str(manifest.get("device") or "")),
        "duration": M.fmt_seconds(manifest.get("seconds")),
        "seconds": manifest.get("seconds"),
        "steps": len(steps),
        "metrics": M.key_metrics(steps),
        "headline": _headline(steps),
        "params": _flat_params(manifest, records),
        "images": _run_images(name, manifest, records) if has_page else {},
        "warnings": warnings,
        "kinds": kinds,
        "severe": bool(kinds),
        "failed": failed,
        "cover": M.url(f"{name}/{thumb.thumb}") if thumb else None,
        "cover_alt": Path(cover).stem if cover else "",
        "cover_w": thumb.twidth if thumb else 0,
        "cover_h": thumb.theight if thumb else 0,
        "cover_px": bool(thumb and max(thumb.width, thumb.height) <= 64),
    }


def _headline(steps: list[M.StepView]) -> dict[str, tuple[str, float | None, int]]:
    """Every scored metric of a run: "step · metric" -> (text, number, direction)."""
    out: dict[str, tuple[str, float | None, int]] = {}
    for s in steps:
        if not s.metrics:
            continue
        for row in s.metrics.rows:
            if not row.baselines and row.key.lower() not in M.KEY_METRICS:
                continue
            out[f"{s.id} · {row.label}"] = (row.value, row.raw.get("model"), M.direction(row.key))
    return out


def _flat_params(manifest: dict, records: dict[str, dict]) -> dict[str, str]:
    """ "step.key" -> value text, for every step parameter, plus the run's seed and backend."""
    out = {"seed": M.value_text(manifest.get("seed")), "backend": str(manifest.get("backend"))}
    for sid, rec in records.items():
        params = rec.get("params") if isinstance(rec.get("params"), dict) else {}
        for k, v in params.items():
            out[f"{sid}.{k}"] = M.value_text(v)
    return out


def _run_images(name: str, manifest: dict, records: dict[str, dict], per_output: int = 8) -> dict:
    """ "step · output · image" -> URL (relative to the index), the first few of each output."""
    out: dict[str, str] = {}
    for entry in manifest.get("steps") or []:
        sid = str(entry.get("id")) if isinstance(entry, dict) else ""
        rec = records.get(sid)
        if not rec:
            continue
        for oname, o in (rec.get("outputs") or {}).items():
            if isinstance(o, dict) and o.get("kind") == "images":
                for f in M.image_files(sid, o)[:per_output]:
                    out[f"{sid} · {oname} · {Path(f).stem}"] = M.url(f"{name}/{f}")
    return out


def compare_runs(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of the same recipe side by side: their headline metrics (best marked), the
    parameters that differ, and the same images across runs."""
    groups: dict[str, list[dict]] = {}
    for c in cards:
        if c.get("href") and not c.get("unreadable"):
            groups.setdefault(c["name"], []).append(c)
    found = []
    for recipe, runs in groups.items():
        if len(runs) < 2:
            continue
        metrics: list[str] = []
        for r in runs:
            metrics.extend(k for k in r["headline"] if k not in metrics)
        metric_rows = []
        for k in metrics[:12]:
            cells = [r["headline"].get(k, ("—", None, 0)) for r in runs]
            sign = next((c[2] for c in cells if c[2]), 0)
            nums = [c[1] for c in cells if c[1] is not None]
            best = (max(nums) if sign > 0 else min(nums)) if sign and len(nums) > 1 else None
            metric_rows.append(
                {
                    "label": k,
                    "cells": [
                        (
                            c[0],
                            repr(c[1]) if c[1] is not None else "",
                            best is not None and c[1] == best,
                        )
                        for c in cells
                    ],
                }
            )
        keys: list[str] = []
        for r in runs:
            keys.extend(k for k in r["params"] if k not in keys)
        differ = [
            {"label": k, "cells": [r["params"].get(k, "—") for r in runs]}
            for k in keys
            if len({r["params"].get(k, "—") for r in runs}) > 1
        ]
        shared = [k for k in runs[0]["images"] if sum(k in r["images"] for r in runs) >= 2]
        for r in runs[1:]:
            shared.extend(
                k
                for k in r["images"]
                if k not in shared and sum(k in q["images"] for q in runs) >= 2
            )
        across = [{"label": k, "images": [r["images"].get(k) for r in runs]} for k in shared[:300]]
        found.append(
            {
                "recipe": recipe,
                "runs": runs,
                "metrics": metric_rows,
                "differ": differ[:40],
                "differ_total": len(differ),
                "across": across,
                "across_json": script_json(across),
                "slug": _slug(recipe),
            }
        )
    return found


def build_index(root: Path) -> Path:
    """Write ``root/index.html``: a card per run folder in ``root`` (newest first)."""
    root = Path(root)
    with _index_lock(root):
        if not _owns_index(root):
            raise ArtforgeError(
                f"{root / 'index.html'} exists and was not written by artforge; not replacing it"
            )
        cards = []
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and _is_run(p)):
            card = _run_card(sub)
            if card:
                cards.append(card)
        cards.sort(key=lambda c: c["name"])
        cards.sort(key=lambda c: c["started_iso"], reverse=True)
        chosen = [
            {"dir": c["dir"], "headline": c["headline"], "params": c["params"]}
            for c in cards
            if c.get("href")
        ]
        html = (
            _env()
            .get_template("index.html")
            .render(
                runs=cards,
                groups=compare_runs(cards),
                runs_json=script_json(chosen),
                generator=INDEX_GENERATOR,
            )
        )
        out = root / "index.html"
        write_text(out, html)
    return out


INDEX_LOCK_WAIT = 60.0  # seconds; then the index is written anyway (a stuck process holds it)


@contextlib.contextmanager
def _index_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder of runs while its index is read and written.

    Runs that finish at the same moment take turns, and each reads the runs after the one
    before it wrote its own page, so the last index written lists every run as it is. The
    lock is on the folder's own descriptor: no lock file is left among the user's runs."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:  # an unreadable folder: the index write reports it
        yield
        return
    try:
        deadline = time.monotonic() + INDEX_LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock
