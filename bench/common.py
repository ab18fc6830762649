"""Shared helpers for the benchmark scripts: timing, the device, and result files.

Every benchmark prints a table with absolute figures, the device and a ratio against a
reference measured in the same run, and (with ``--json PATH``) writes its rows as JSON so
that ``bench/suite.py`` can collect them into ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "processor": _cpu_name(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def device_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda ({torch.cuda.get_device_name(0)})"
    except ImportError:
        pass
    return f"cpu ({_cpu_name()}, {os.cpu_count()} cores)"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timeit(
    fn: Callable[[], object], *, warmup: int = 2, repeat: int = 5, sync: Callable | None = None
) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (for smoke checks)")
    return p


def report(title: str, rows: list[dict], json_path: Path | None = None) -> None:
    """Print rows (dicts with name/value/unit and optional reference/ratio) and save JSON."""
    print(f"\n## {title}  [device: {device_name()}]")
    keys = ["name", "value", "unit", "reference", "ratio", "note"]
    present = [k for k in keys if any(k in r for r in rows)]
    print("| " + " | ".join(present) + " |")
    print("|" + "---|" * len(present))
    for r in rows:
        cells = []
        for k in present:
            v = r.get(k, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"title": title, "device": device_name(), "machine": machine(), "rows": rows}
        json_path.write_text(json.dumps(payload, indent=2))
