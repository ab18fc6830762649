"""Shared helpers for the benchmark scripts: timing, the device, FLOP counts and result files.

Every benchmark prints a table with absolute figures, the device and a ratio against a
reference measured in the same run, and (with ``--json PATH``) writes its rows as JSON so
that ``bench/run_all.py`` can collect them into ``bench/results/``.

A row is a dict: ``name``, ``value``, ``unit`` and optionally ``reference`` (the same
quantity for the reference measured in the same run, in ``reference_unit`` when that
differs), ``ratio`` (always ``value / reference``: for a rate such as it/s above 1 means
artforge is faster; for a time or a memory size below 1 means it takes less), ``note``,
``device`` (when the row's differs from the script's),
and for training benchmarks ``flops_per_it`` (FLOPs of one training iteration, see
:func:`count_flops`) with ``gflops`` (achieved: ``flops_per_it`` x iterations per second)
and ``reference_gflops``; ``run_all.py`` turns these into fractions of the machine's
ceiling measured in the same run (``bench_ceiling.py``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _version(*dists: str) -> str | None:
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict:
    """Library versions, read from the installed distributions (nothing is imported)."""
    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "tensorflow": _version("tensorflow", "tensorflow-cpu", "tensorflow_cpu"),
        "keras": _version("keras"),
        "numpy": _version("numpy"),
        "pillow": _version("pillow", "Pillow"),
    }


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def gpu_name() -> str | None:
    """The first CUDA device's name, when torch is installed and sees one."""
    if "torch" not in sys.modules and _version("torch") is None:
        return None
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return None


def machine() -> dict:
    """What the figures were measured on: CPU, cores, RAM, GPU, OS and library versions."""
    info = {
        "processor": _cpu_name(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "usable_cores": _usable_cores(),
        "ram_gb": _ram_gb(),
        "gpu": gpu_name(),
        "os": platform.platform(),
        "hostname": platform.node(),
        **versions(),
    }
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def machine_slug(info: dict | None = None) -> str:
    """A file-name part for this machine: host name, usable cores, GPU (``vm-2c``)."""
    import re

    info = info or machine()
    host = re.sub(r"[^a-z0-9]+", "-", (info.get("hostname") or "machine").lower()).strip("-")
    slug = f"{host or 'machine'}-{info.get('usable_cores') or info.get('cpus')}c"
    if info.get("gpu"):
        slug += "-" + re.sub(r"[^a-z0-9]+", "-", info["gpu"].lower()).strip("-")[:24]
    return slug


def device_name() -> str:
    gpu = gpu_name() if "torch" in sys.modules else None
    if gpu:
        return f"cuda ({gpu})"
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
    fn: Callable[[], object],
    *,
    warmup: int = 2,
    repeat: int = 5,
    sync: Callable | None = None,
    budget: float | None = None,
    min_repeat: int = 3,
) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` calls: ``repeat`` timed calls, or
    fewer (at least ``min_repeat``) once ``budget`` seconds have been spent timing."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times: list[float] = []
    start = time.perf_counter()
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
        if budget is not None and i + 1 >= min_repeat and time.perf_counter() - start > budget:
            break
    return statistics.median(times)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (PyTorch), counted by ``torch.utils.flop_counter``.

    Every matrix multiply and convolution that runs under the counter is counted, forward
    and backward (``convolution_backward``: input and weight gradients), at 2 FLOPs per
    multiply-add; elementwise work (activations, normalisation, losses, the optimiser
    update) is not: it is memory-bound and small beside the convolutions, so the achieved
    FLOP/s is the rate of useful dense arithmetic, comparable with the matmul / conv
    ceilings of ``bench_ceiling.py``. Returns 0 when the counter is unavailable."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:  # pragma: no cover - torch < 2.1
        return 0
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def with_flops(row: dict, flops_per_it: int, rate: float, ref_rate: float | None = None) -> dict:
    """Add ``flops_per_it``, ``gflops`` (at ``rate`` iterations/s) and ``reference_gflops``."""
    if flops_per_it > 0:
        row["flops_per_it"] = flops_per_it
        row["gflops"] = flops_per_it * rate / 1e9
        if ref_rate:
            row["reference_gflops"] = flops_per_it * ref_rate / 1e9
    return row


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (for smoke checks)")
    return p


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(Q1, median, Q3); with fewer than 4 values (min, median, max)."""
    if len(values) >= 4:
        q = statistics.quantiles(values, n=4)
        return q[0], q[1], q[2]
    return min(values), statistics.median(values), max(values)


def write_json(path: Path, payload: object) -> None:
    """Write JSON atomically (a temporary file in the same folder, then a rename)."""
    from artforge.atomic import write_json as _write

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _write(path, payload)


def report(title: str, rows: list[dict], json_path: Path | None = None) -> None:
    """Print rows (dicts with name/value/unit and optional reference/ratio) and save JSON."""
    print(f"\n## {title}  [device: {device_name()}]")
    if not rows:
        print("(no rows)")
    keys = ["name", "value", "unit", "reference", "ratio", "gflops", "note"]
    present = [k for k in keys if any(k in r for r in rows)]
    if present:
        print("| " + " | ".join(present) + " |")
        print("|" + "---|" * len(present))
    for r in rows:
        cells = []
        for k in present:
            v = r.get(k, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()
    if json_path:
        payload = {"title": title, "device": device_name(), "machine": machine(), "rows": rows}
        write_json(json_path, payload)
