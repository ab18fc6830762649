"""What a step published, file by file, and whether it is still there unchanged.

When a step publishes, the runner records the size, modification time and SHA-256 of every
artifact file in its ``record.json`` (``files``: paths relative to the step folder). Before
the step is reused, :func:`damage` compares the files on disk with that table: a missing,
truncated, resized or (when hashed) changed file makes the step run again, with the steps
that use it. The fast path trusts a file whose size and modification time are as recorded;
a file whose time differs (copied, touched) is hashed, and ``full=True`` (``artforge run
--verify``) hashes every file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .artifacts import file_sha256


def describe(base: Path, files: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """``{relative path: {size, mtime_ns, sha256}}`` of ``files``, all inside ``base``."""
    root = Path(base).resolve()
    table: dict[str, dict[str, Any]] = {}
    for path in files:
        path = Path(path).resolve()
        st = path.stat()
        table[path.relative_to(root).as_posix()] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": file_sha256(path),
        }
    return dict(sorted(table.items()))


def damage(
    base: Path, table: Any, files: Iterable[Path], *, full: bool = False
) -> tuple[str, str] | None:
    """The first problem with a published step's files, as (file relative to ``base``, what
    is wrong), or None.

    ``table`` is the record's ``files``; ``files`` the artifact files its outputs name (each
    must be in the table: a record whose outputs were edited to point elsewhere is damaged).
    """
    root = Path(base).resolve()
    if not isinstance(table, dict):
        return "record.json", "has no valid file list"
    for path in files:
        try:
            rel = Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            return str(path), "lies outside the step folder"
        if rel not in table:
            return rel, "is not among the files the step published"
    for rel, want in table.items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            return rel, "is not a path inside the step folder"
        path = root / rel
        problem = _check(path, want, full)
        if problem:
            return rel, problem
    return None


def _check(path: Path, want: Any, full: bool) -> str | None:
    if not isinstance(want, dict) or not {"size", "sha256"} <= set(want):
        return "has no valid entry in the step's file list"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return "is no longer a regular file"
    size = want["size"]
    if st.st_size != size:
        if st.st_size < size:
            return f"is truncated ({st.st_size} of {size} bytes)"
        return f"has changed size ({size} bytes when published, {st.st_size} now)"
    if not full and st.st_mtime_ns == want.get("mtime_ns"):
        return None
    try:
        digest = file_sha256(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if digest != want["sha256"]:
        return "has changed since the step published it (its SHA-256 differs)"
    return None
