"""Derived files of a gallery: WebP thumbnails, per-step zips, checkpoint hashes.

Everything is cached in ``_gallery/cache.json`` keyed by the source file's size and
modification time, so rebuilding a gallery only touches what changed. Every output is
deterministic (same sources, same bytes) and written atomically. Every file is read and
written through :mod:`artforge.safefs`: a symbolic link in the run directory is never
followed (a linked source is left out, a linked destination refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from .. import safefs
from ..atomic import atomic_open, write_bytes, write_text

GALLERY_DIR = "_gallery"
CACHE_VERSION = 2
WEBP_QUALITY = 82
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
MAX_ZIP_BYTES = 2 * 1024**3  # larger image sets are not zipped (their folder is linked instead)


def _stamp(run_dir: Path, rel: str) -> list[int] | None:
    """Size and modification time of a regular file in the run (None: missing or a link)."""
    st = safefs.lstat_file(run_dir, rel)
    return None if st is None else [st.st_size, st.st_mtime_ns]


@dataclass
class Thumb:
    """An image on the page: its original and its thumbnail (paths relative to the run)."""

    src: str  # original, relative to the run directory (POSIX)
    thumb: str  # WebP thumbnail, relative to the run directory
    width: int  # original size
    height: int
    twidth: int  # thumbnail size
    theight: int


class Cache:
    """The build cache of one run directory (``_gallery/cache.json``)."""

    def __init__(self, run_dir: Path, thumb_size: int):
        self.run_dir = run_dir
        self.path = run_dir / GALLERY_DIR / "cache.json"
        self.thumb_size = thumb_size
        data: Any = {}
        try:
            data = json.loads(safefs.read_bytes(run_dir, f"{GALLERY_DIR}/cache.json") or b"{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if not isinstance(data, dict) or (data.get("version"), data.get("thumb_size")) != (
            CACHE_VERSION,
            thumb_size,
        ):
            data = {}
        # derived data: a damaged or hand-edited entry is dropped (and made again), never used
        self.thumbs: dict[str, list] = _entries(data.get("thumbs"), (int,) * 6)
        self.hashes: dict[str, list] = _entries(data.get("hashes"), (int, int, str))
        self.dims: dict[str, list] = _entries(data.get("dims"), (int,) * 4)
        derived = data.get("derived")
        self.derived: dict[str, str] = {
            k: v
            for k, v in (derived if isinstance(derived, dict) else {}).items()
            if isinstance(v, str)
        }
        self.dirty = False

    def save(self) -> None:
        if not self.dirty:
            return
        data = {
            "version": CACHE_VERSION,
            "thumb_size": self.thumb_size,
            "thumbs": dict(sorted(self.thumbs.items())),
            "hashes": dict(sorted(self.hashes.items())),
            "dims": dict(sorted(self.dims.items())),
            "derived": dict(sorted(self.derived.items())),
        }
        rel = f"{GALLERY_DIR}/cache.json"
        write_text(safefs.writable(self.run_dir, rel), json.dumps(data, indent=1) + "\n")
        self.dirty = False

    # -- thumbnails -----------------------------------------------------------------------
    def thumb_path(self, src_rel: str) -> str:
        """Where the thumbnail of ``steps/<id>/<out>/<file>`` goes (relative to the run)."""
        rel = src_rel[len("steps/") :] if src_rel.startswith("steps/") else src_rel
        return f"{GALLERY_DIR}/thumbs/{rel}.webp"

    def thumbnails(self, sources: list[str], workers: int | None = None) -> dict[str, Thumb]:
        """Thumbnails of ``sources`` (paths relative to the run); unreadable files are left out."""
        result: dict[str, Thumb] = {}
        todo: list[tuple[str, list[int]]] = []
        for src in dict.fromkeys(sources):
            stamp = _stamp(self.run_dir, src)
            if stamp is None:
                continue
            entry = self.thumbs.get(src)
            tpath = self.thumb_path(src)
            if entry and entry[:2] == stamp and safefs.regular_file(self.run_dir, tpath):
                result[src] = Thumb(src, tpath, *entry[2:6])
            else:
                todo.append((src, stamp))
        if todo:
            workers = workers or min(4, os.cpu_count() or 1)
            if len(todo) < 8 or workers == 1:
                made = [self._make_thumb(src) for src, _ in todo]
            else:
                with ThreadPoolExecutor(workers) as pool:
                    made = list(pool.map(self._make_thumb, [s for s, _ in todo]))
            for (src, stamp), thumb in zip(todo, made):
                if thumb is None:
                    self.thumbs.pop(src, None)
                    continue
                self.thumbs[src] = [
                    *stamp,
                    thumb.width,
                    thumb.height,
                    thumb.twidth,
                    thumb.theight,
                ]
                result[src] = thumb
            self.dirty = True
        return result

    def _make_thumb(self, src: str) -> Thumb | None:
        try:
            with safefs.open_inside(self.run_dir, src) as fh, Image.open(fh) as im:
                im.seek(0)
                im = ImageOps.exif_transpose(im)
                width, height = im.size
                if im.mode not in ("RGB", "RGBA"):
                    has_alpha = im.mode in ("LA", "PA") or "transparency" in im.info
                    im = im.convert("RGBA" if has_alpha else "RGB")
                im.thumbnail((self.thumb_size, self.thumb_size), Image.Resampling.LANCZOS)
                buf = io.BytesIO()
                im.save(buf, "WEBP", quality=WEBP_QUALITY, method=4)
        except (OSError, ValueError, Image.DecompressionBombError, safefs.LinkRefused):
            return None
        tpath = self.thumb_path(src)
        write_bytes(safefs.writable(self.run_dir, tpath), buf.getvalue())
        return Thumb(src, tpath, width, height, im.width, im.height)

    def dimensions(self, src: str) -> tuple[int, int] | None:
        """(width, height) of an image file shown at full size (GIFs, SVG plots, ...)."""
        stamp = _stamp(self.run_dir, src)
        if stamp is None:
            return None
        entry = self.dims.get(src)
        if entry and entry[:2] == stamp:
            return entry[2], entry[3]
        try:
            with safefs.open_inside(self.run_dir, src) as fh, Image.open(fh) as im:
                size = im.size
        except (OSError, ValueError, Image.DecompressionBombError, safefs.LinkRefused):
            return None
        self.dims[src] = [*stamp, *size]
        self.dirty = True
        return size

    # -- hashes ---------------------------------------------------------------------------
    def sha256(self, src: str) -> str | None:
        stamp = _stamp(self.run_dir, src)
        if stamp is None:
            return None
        entry = self.hashes.get(src)
        if entry and entry[:2] == stamp:
            return entry[2]
        h = hashlib.sha256()
        try:
            with safefs.open_inside(self.run_dir, src) as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
        except (OSError, safefs.LinkRefused):
            return None
        digest = h.hexdigest()
        self.hashes[src] = [*stamp, digest]
        self.dirty = True
        return digest

    # -- derived files (zips, plots) ------------------------------------------------------
    def fresh(self, target: str, signature: str) -> bool:
        """True if ``target`` exists and was made from inputs with this ``signature``."""
        return self.derived.get(target) == signature and bool(
            safefs.regular_file(self.run_dir, target)
        )

    def made(self, target: str, signature: str) -> None:
        self.derived[target] = signature
        self.dirty = True

    def prune(self, keep: set[str]) -> None:
        """Delete derived files (thumbnails, zips, plots) that the page no longer uses: only
        regular files inside ``_gallery/``, in a marked run directory (never through a link)."""
        from ..ownership import read_marker

        if read_marker(self.run_dir) is None or safefs.first_link(self.run_dir, GALLERY_DIR):
            return
        root = self.run_dir / GALLERY_DIR
        for sub in ("thumbs", "downloads", "plots"):
            folders = []
            for top, _, files in safefs.walk(root / sub):
                if top != root / sub:
                    folders.append(top)
                for name in files:
                    if (top / name).relative_to(self.run_dir).as_posix() not in keep:
                        (top / name).unlink(missing_ok=True)
            for folder in reversed(folders):  # deepest first
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
        for table in (self.derived,):
            for key in [k for k in table if k not in keep]:
                del table[key]
                self.dirty = True
        for key in [k for k in self.thumbs if self.thumb_path(k) not in keep]:
            del self.thumbs[key]
            self.dirty = True


def _entries(table: Any, types: tuple[type, ...]) -> dict[str, list]:
    """The entries of a cache table that have the shape this version writes."""
    if not isinstance(table, dict):
        return {}
    return {
        k: v
        for k, v in table.items()
        if isinstance(v, list)
        and len(v) == len(types)
        and all(isinstance(x, t) and not isinstance(x, bool) for x, t in zip(v, types))
    }


def file_signature(run_dir: Path, files: list[str]) -> str:
    """A string that changes when any of ``files`` (relative to the run) changes."""
    parts = [f"{f}:{_stamp(run_dir, f)}" for f in files]
    return digest("\n".join(parts))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def write_zip(run_dir: Path, target: str, members: list[tuple[str, str]]) -> None:
    """Zip ``members`` ((path relative to the run, name in the archive)) deterministically."""
    dest_path = safefs.writable(run_dir, target)
    with atomic_open(dest_path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        for src, arcname in members:
            info = zipfile.ZipInfo(arcname, ZIP_DATE)
            info.external_attr = 0o644 << 16
            suffix = Path(src).suffix.lower()
            already_compressed = suffix in (".png", ".jpg", ".jpeg", ".webp", ".gif")
            info.compress_type = zipfile.ZIP_STORED if already_compressed else zipfile.ZIP_DEFLATED
            with safefs.open_inside(run_dir, src) as source:
                info.file_size = os.fstat(source.fileno()).st_size
                with zf.open(info, "w") as dest:
                    shutil.copyfileobj(source, dest, 1 << 20)
