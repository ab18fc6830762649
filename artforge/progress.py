"""A tiny progress reporter: a live line with rate and ETA on a terminal, silence otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    def __init__(
        self, total: int, desc: str = "", stream: IO | None = None, enabled: bool | None = None
    ):
        self.total = max(int(total), 1)
        self.desc = desc
        self.n = 0
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self._last = 0.0
        self.postfix = ""

    def update(self, n: int = 1, **postfix: float) -> None:
        self.n += n
        if postfix:
            self.postfix = "  ".join(f"{k} {v:.4g}" for k, v in postfix.items())
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.2 or self.n >= self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        pct = 100.0 * self.n / self.total
        line = (
            f"\r  {self.desc} {self.n}/{self.total} ({pct:3.0f}%) "
            f"{_fmt(elapsed)} elapsed, ETA {_fmt(eta)}  {self.postfix}"
        )
        self.stream.write(line[:160].ljust(80))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
