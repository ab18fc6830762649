"""What steps produce: image sets, model checkpoints and plain files, all on disk.

An artifact lives inside its step's folder; the step record (``record.json``) stores it with
paths relative to that folder, so a finished run directory can be moved, re-read and
re-rendered without the runner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ImageSet:
    """An ordered set of images (PNG files) in one folder, optionally labelled."""

    root: Path
    files: list[str]
    labels: list[int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    kind = "images"

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.load(i)

    @property
    def paths(self) -> list[Path]:
        return [self.root / f for f in self.files]

    @property
    def names(self) -> list[str]:
        """File stems: images of two sets with the same name are pairs."""
        return [Path(f).stem for f in self.files]

    def load(self, i: int, mode: str = "RGB") -> np.ndarray:
        from .images import load_image

        return load_image(self.root / self.files[i], mode=mode)

    def load_all(self, mode: str = "RGB") -> list[np.ndarray]:
        return [self.load(i, mode) for i in range(len(self))]

    def to_record(self, base: Path) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "kind": self.kind,
            "path": _rel(self.root, base),
            "files": list(self.files),
        }
        if self.labels is not None:
            rec["labels"] = list(self.labels)
        if self.meta:
            rec["meta"] = self.meta
        return rec


@dataclass
class ModelArtifact:
    """A trained model: one weights file plus what is needed to rebuild the network."""

    root: Path
    file: str
    meta: dict[str, Any] = field(default_factory=dict)
    kind = "model"

    @property
    def path(self) -> Path:
        return self.root / self.file

    def sha256(self) -> str:
        return file_sha256(self.path)

    def to_record(self, base: Path) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": _rel(self.root, base),
            "file": self.file,
            "meta": self.meta,
        }


@dataclass
class FileArtifact:
    """Any other file (JSON metrics, a GIF, an SVG plot)."""

    root: Path
    file: str
    meta: dict[str, Any] = field(default_factory=dict)
    kind = "file"

    @property
    def path(self) -> Path:
        return self.root / self.file

    def to_record(self, base: Path) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": _rel(self.root, base),
            "file": self.file,
            "meta": self.meta,
        }


Artifact = ImageSet | ModelArtifact | FileArtifact


def artifact_from_record(rec: dict[str, Any], base: Path) -> Artifact:
    root = (base / rec.get("path", ".")).resolve()
    kind = rec.get("kind")
    if kind == "images":
        return ImageSet(root, list(rec["files"]), rec.get("labels"), rec.get("meta", {}))
    if kind == "model":
        return ModelArtifact(root, rec["file"], rec.get("meta", {}))
    if kind == "file":
        return FileArtifact(root, rec["file"], rec.get("meta", {}))
    raise ValueError(f"unknown artifact kind {kind!r}")


def artifact_files(art: Artifact) -> list[Path]:
    if isinstance(art, ImageSet):
        return art.paths
    return [art.path]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _rel(path: Path, base: Path) -> str:
    path, base = Path(path).resolve(), Path(base).resolve()
    try:
        return str(path.relative_to(base)) or "."
    except ValueError as exc:
        raise ValueError(f"artifact {path} lies outside its step folder {base}") from exc
