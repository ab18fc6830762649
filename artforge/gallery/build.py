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
from .integrity import RunUnreadable, read_run
from .media import GALLERY_DIR, MAX_ZIP_BYTES, Cache, Thumb, digest, file_signature, write_zip

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
class _RunBuilder:
    def __init__(self, run_dir: Path, manifest: dict, records: dict[str, dict]):
        self.run_dir = run_dir
        self.manifest = manifest
        self.records = records
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
            device=str(m.get("device") or "—"),
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
        )

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
        s.device = str(rec.get("device") or "cpu")
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
        s.comparisons = self.comparisons_of(s, rec, params)
        s.metrics = M.metric_table(rec.get("metrics"))
        s.breakdowns = M.breakdowns(rec.get("metrics"))
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
        )

    def comparisons_of(self, s: M.StepView, rec: dict, params: dict) -> list[M.Comparison]:
        """Before/after pairs: an image input and an image output with the same file names."""
        outputs = {o.name: o for o in s.images if o.kind == "grid" and o.pictures}
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


def build_gallery(run_dir: Path) -> Path:
    """Write ``run_dir/index.html`` and its derived files; refresh the parent's index of runs."""
    run_dir = Path(run_dir)
    manifest, records = _read(run_dir)
    builder = _RunBuilder(run_dir, manifest, records)
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
        "device": str(manifest.get("device") or "—"),
        "duration": M.fmt_seconds(manifest.get("seconds")),
        "steps": len(steps),
        "metrics": M.key_metrics(steps),
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
        html = _env().get_template("index.html").render(runs=cards, generator=INDEX_GENERATOR)
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
