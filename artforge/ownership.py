"""Which folders are artforge's run directories.

A run directory is *owned*: when artforge creates one, the first thing it writes is the marker
``.artforge-run`` (a small JSON file with the run id). ``artforge run --out DIR`` writes only
into a folder that is new, empty or marked; clean-up (temporaries, ``.staging``, ``.work``,
gallery caches) happens only inside a marked folder. A folder that an earlier artforge wrote
(artforge's ``manifest.json`` beside a ``steps/`` folder, or nothing but artforge's own
names) is recognised and adopted: the marker is added on the next run. Never a run directory,
marked or not: ``/``, the home folder (and the folders above it), and a folder holding other
runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import ArtforgeError

MARKER = ".artforge-run"
# every name artforge itself writes at the top of a run directory
OWN_NAMES = frozenset(
    {
        MARKER,
        ".lock",
        "manifest.json",
        "recipe.yaml",
        "index.html",
        "steps",
        "_gallery",
        ".staging",
        ".work",
    }
)
TEMP_FILE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # atomic_open's temporary names
OLD_DIR = re.compile(r"^\..+\.old-\d+$")  # replace_dir's folder set aside


class NotARunDirectory(ArtforgeError):
    """A folder artforge will not treat as a run directory."""


def _kind(path: Path) -> int | None:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None


def read_marker(folder: Path) -> dict | None:
    """The marker of ``folder`` (a regular file, never a link), or None when it has none."""
    mode = _kind(Path(folder) / MARKER)
    if mode is None or not stat.S_ISREG(mode):
        return None
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    return data if isinstance(data, dict) else {}  # an empty marker is being written


def _artforge_manifest(folder: Path) -> bool:
    mode = _kind(folder / "manifest.json")
    if mode is None or not stat.S_ISREG(mode):
        return False
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and isinstance(data.get("steps"), list)
        and "artforge_version" in data
    )


def is_legacy_run(folder: Path) -> bool:
    """A run directory of an artforge that wrote no marker: artforge's ``manifest.json`` and a
    ``steps/`` folder, or artforge's ``manifest.json`` and nothing but artforge's names."""
    folder = Path(folder)
    if not _artforge_manifest(folder):
        return False
    mode = _kind(folder / "steps")
    if mode is not None and stat.S_ISDIR(mode):
        return True
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return all(n in OWN_NAMES or TEMP_FILE.match(n) for n in names)


def is_run_dir(folder: Path) -> bool:
    """Marked, or recognised as an earlier artforge's run directory."""
    return read_marker(folder) is not None or is_legacy_run(folder)


def _forbidden(folder: Path) -> str | None:
    """Why ``folder`` can never be a run directory, or None."""
    try:
        real = folder.resolve()
        home = Path.home().resolve()
    except (OSError, RuntimeError):
        return None
    if real == Path(real.anchor):
        return "it is the root of the file system"
    if real == home:
        return "it is your home folder"
    if real in home.parents:
        return "it holds your home folder"
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name in OWN_NAMES or not entry.is_dir(follow_symlinks=False):
            continue
        sub = Path(entry.path)
        if read_marker(sub) is not None or _artforge_manifest(sub):
            return f"it holds other runs ({entry.name}/ is one)"
    return None


def _describe(names: list[str], folder: Path) -> str:
    shown = []
    for name in sorted(names)[:4]:
        mode = _kind(folder / name)
        suffix = "/" if mode is not None and stat.S_ISDIR(mode) else ""
        if mode is not None and stat.S_ISLNK(mode):
            suffix = " (a link)"
        shown.append(name + suffix)
    more = f" and {len(names) - 4} more" if len(names) > 4 else ""
    return ", ".join(shown) + more


def _marker_tmp(name: str) -> bool:
    """A marker being written by a run that claims the folder at this moment."""
    return name.startswith(MARKER + ".") and bool(TEMP_FILE.match(name))


def check_claim(folder: Path) -> None:
    """Raise :class:`NotARunDirectory` unless ``artforge run`` may write into ``folder``
    (new, empty, marked or an earlier artforge's run directory). Writes nothing."""
    folder = Path(folder)
    mode = _kind(folder)
    try:
        is_dir = mode is not None and stat.S_ISDIR(os.stat(folder).st_mode)
    except OSError:  # a link to nothing
        is_dir = False
    if mode is not None and not is_dir:
        raise NotARunDirectory(
            f"refusing to run into {folder}: it is not a folder",
            hint="choose another folder with --out",
        )
    why = _forbidden(folder) if mode is not None else None
    if why:
        raise NotARunDirectory(
            f"refusing to use {folder} as a run directory: {why}",
            hint=f"choose a new folder with --out, e.g. --out {folder / 'my-run'}",
        )
    if mode is None or read_marker(folder) is not None or is_legacy_run(folder):
        return
    names = [n for n in os.listdir(folder) if not _marker_tmp(n)]
    if names:
        raise NotARunDirectory(
            f"refusing to run into {folder}: it is not empty ({_describe(names, folder)}) and "
            f"is not an artforge run directory (no {MARKER} marker)",
            hint="artforge writes only into a new or empty folder or one of its own runs; "
            f"choose another folder with --out, e.g. --out {folder / 'my-run'}",
        )


def claim(folder: Path) -> str:
    """Make ``folder`` an owned run directory (creating it) and return its run id.

    The marker is the first thing written in a new folder; an earlier artforge's run directory
    gets one too. Raises :class:`NotARunDirectory` before writing anything when the folder is
    not artforge's to write."""
    folder = Path(folder)
    check_claim(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = read_marker(folder)
    if marker is not None:
        return str(marker.get("run_id") or "")
    run_id = uuid.uuid4().hex
    data = {
        "artforge": "run directory",
        "run_id": run_id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "artforge_version": __version__,
    }
    # written whole under a temporary name, then linked into place: the marker is complete
    # when it appears, and a second run marking the folder at the same moment fails the link
    fd, tmp = tempfile.mkstemp(prefix=f"{MARKER}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o644)
            fh.write(json.dumps(data, indent=1) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, folder / MARKER)
        except FileExistsError:  # another run marked it a moment ago
            marker = read_marker(folder)
            if marker is None:
                raise NotARunDirectory(
                    f"refusing to run into {folder}: {folder / MARKER} is not a regular file",
                    hint="remove it, or choose another folder with --out",
                ) from None
            return str(marker.get("run_id") or "")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return run_id
