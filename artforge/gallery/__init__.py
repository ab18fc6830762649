"""The static HTML gallery, built from a run directory alone (manifest + step records)."""

from __future__ import annotations

from .build import build_gallery, build_index

__all__ = ["build_gallery", "build_index"]
