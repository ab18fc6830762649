"""Per-step seeds derived from the recipe seed and the step id."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *names: object) -> int:
    """A stable 31-bit seed from ``seed`` and any names (step id, epoch, ...)."""
    text = ":".join([str(seed), *map(str, names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
