"""Reading and writing inside a run directory without ever following a symbolic link out.

Every reader and writer of a run directory (the runner's cache checks, the gallery's pages,
thumbnails, zips and caches, the clean-up) goes through these helpers, so "no file outside the
run directory is read, written or deleted" is one rule in one place rather than a check per
caller. The run directory itself may be a link (``gallery/run -> /data/run``); what lies
below it may not: a path is *inside* when no component between the root and the file is a
symbolic link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .errors import ArtforgeError


class LinkRefused(ArtforgeError):
    """A symbolic link inside a run directory: artforge neither reads nor writes through it."""


def _parts(rel: str | os.PathLike) -> list[str]:
    parts = [p for p in Path(rel).parts if p not in ("", ".")]
    if Path(rel).is_absolute() or ".." in parts:
        raise LinkRefused(f"{rel}: not a path inside the run directory")
    return parts


def first_link(root: str | os.PathLike, rel: str | os.PathLike) -> Path | None:
    """The first existing component of ``root/rel`` below ``root`` that is a symbolic link."""
    path = Path(root)
    for part in _parts(rel):
        path = path / part
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return path
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError):
            return path  # unreadable or a null byte: not something to follow
    return None


def regular_file(root: str | os.PathLike, rel: str | os.PathLike) -> Path | None:
    """``root/rel`` if it is a regular file reached without a link, else None (skip it)."""
    try:
        if first_link(root, rel) is not None:
            return None
        path = Path(root, rel)
        return path if stat.S_ISREG(os.lstat(path).st_mode) else None
    except (OSError, ValueError, LinkRefused):
        return None


def lstat_file(root: str | os.PathLike, rel: str | os.PathLike) -> os.stat_result | None:
    """The stat of a regular file inside ``root`` (None for a link, a folder or nothing)."""
    path = regular_file(root, rel)
    try:
        return os.lstat(path) if path is not None else None
    except OSError:
        return None


def open_inside(root: str | os.PathLike, rel: str | os.PathLike) -> IO[bytes]:
    """Open a regular file inside ``root`` for reading; a link on the way is refused by name."""
    link = first_link(root, rel)
    if link is not None:
        raise LinkRefused(
            f"refusing to read {link}: it is a symbolic link (to {_target(link)})",
            hint="artforge reads only files inside the run directory; remove the link",
        )
    fd = os.open(Path(root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LinkRefused(f"refusing to read {Path(root, rel)}: not a regular file")
    return os.fdopen(fd, "rb")


def read_bytes(root: str | os.PathLike, rel: str | os.PathLike) -> bytes | None:
    """The bytes of a regular file inside ``root``, or None (missing, a link, unreadable)."""
    try:
        with open_inside(root, rel) as fh:
            return fh.read()
    except (OSError, ValueError, LinkRefused):
        return None


def writable(root: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """``root/rel``, to be written (atomically, by rename) or deleted: refused by name when any
    existing component below ``root``, the file included, is a symbolic link."""
    link = first_link(root, rel)
    if link is not None:
        raise LinkRefused(
            f"refusing to write {Path(root, rel)}: {link} is a symbolic link (to {_target(link)})",
            hint="artforge writes only inside the run directory; remove the link",
        )
    return Path(root, rel)


def walk(root: str | os.PathLike) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` that follows no link, not even ``root`` itself when it lies below a run
    directory: ``files`` are regular files, ``dirs`` real folders (prune it to skip one)."""
    root = Path(root)
    try:
        if stat.S_ISLNK(os.lstat(root).st_mode):
            return
    except OSError:
        return
    for top, dirs, files in os.walk(root):
        top_path = Path(top)
        dirs[:] = [d for d in dirs if not (top_path / d).is_symlink()]
        files = [f for f in files if _is_regular(top_path / f)]
        yield top_path, dirs, files


def find_link(root: str | os.PathLike) -> Path | None:
    """The first symbolic link anywhere below ``root`` (never followed), or None."""
    for top, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(top) / name
            if path.is_symlink():
                return path
    return None


def refuse_links(root: str | os.PathLike, doing: str) -> None:
    """Refuse (exit status 2, naming the link) a run directory that holds a symbolic link."""
    link = find_link(root)
    if link is not None:
        raise LinkRefused(
            f"refusing to {doing}: {link} is a symbolic link (to {_target(link)}); "
            "artforge reads and writes only inside the run directory",
            hint="remove the link, or choose another folder",
        )


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _target(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"
