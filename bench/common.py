"""Shared helpers for the benchmark scripts: timing, the device, FLOP counts and result files.

Every benchmark prints a table with absolute figures, the device and a ratio against a
reference measured in the same run, and (with ``--json PATH``) writes its rows as JSON so
that ``bench/run_all.py`` can collect them into ``bench/results/``.

A row is a dict: ``name``, ``value``, ``unit`` and optionally ``reference`` (the same
quantity for the reference measured in the same run, in ``reference_unit`` when that
differs), ``ratio`` (artforge over the reference: for a rate such as it/s above 1 means
artforge is faster; for a time or a memory size below 1 means it takes less; for a timed
pair, which always alternates (:func:`alternate_rounds`, :func:`alternate`), the median of
the per-round ratios (:func:`paired`), with ``ratio_quartiles``), ``note``, ``device``
(when the row's differs from the script's),
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
        # thread limits set in the environment: they hold every torch benchmark but the
        # ceiling (which sets its own threads) to fewer cores
        "thread_env": {
            v: os.environ[v]
            for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ARTFORGE_THREADS")
            if v in os.environ
        },
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


# -- alternating pairs: artforge and its reference take turns -----------------------------------
def alternate_rounds(
    a: Callable[[], object],
    b: Callable[[], object],
    rounds: int,
    *,
    warmup: int = 1,
    sync: Callable | None = None,
    budget: float | None = None,
    min_rounds: int = 4,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float]]:
    """Seconds per round of ``a`` and of ``b``, which take turns: after ``warmup`` calls of
    each, ``rounds`` rounds in the order AB, BA, AB, ... (so neither always runs first, and a
    neighbour's load on a shared machine or a drift of the clock speed hits both alike), or
    fewer (at least ``min_rounds``) once ``budget`` seconds have been spent on the rounds.
    Pair the two lists round by round with :func:`paired`."""
    for _ in range(warmup):
        a()
        b()
    if sync:
        sync()
    a_times: list[float] = []
    b_times: list[float] = []
    start = clock()
    for r in range(rounds):
        for fn, times in (
            ((a, a_times), (b, b_times)) if r % 2 == 0 else ((b, b_times), (a, a_times))
        ):
            t0 = clock()
            fn()
            if sync:
                sync()
            times.append(clock() - t0)
        if budget is not None and r + 1 >= min_rounds and clock() - start > budget:
            break
    return a_times, b_times


def paired(a_times: list[float], b_times: list[float]) -> dict:
    """Summary of two lists of per-round seconds measured in alternation: ``a`` and ``b``
    (median seconds per round), ``ratio`` (the median of the per-round time ratios a/b: each
    ratio compares two neighbouring measurements, so it is robust where the medians of the
    two sides, taken at different moments, are not), ``q1`` and ``q3`` (its quartiles) and
    ``rounds``."""
    if not a_times or len(a_times) != len(b_times):
        raise ValueError(f"need equal, non-empty rounds (got {len(a_times)} and {len(b_times)})")
    q1, med, q3 = quartiles([x / y for x, y in zip(a_times, b_times)])
    return {
        "a": statistics.median(a_times),
        "b": statistics.median(b_times),
        "ratio": med,
        "q1": q1,
        "q3": q3,
        "rounds": len(a_times),
    }


def paired_row(
    name: str,
    a_times: list[float],
    b_times: list[float],
    *,
    unit: str,
    reference: str,
    work: float = 1.0,
    rate: bool = True,
    scale: float = 1.0,
    note: str = "",
) -> dict:
    """A row of an alternating pair (see :func:`alternate_rounds`). With ``rate`` the value
    and the reference are ``work`` per median second (``unit``, e.g. it/s) and the ratio is
    the median of the per-round rate ratios (above 1: artforge faster); otherwise they are the
    median seconds times ``scale`` (e.g. 1000 for ms) and the ratio is the median of the
    per-round time ratios (below 1: artforge faster). ``ratio_quartiles`` are the per-round
    ratios' quartiles; ``reference`` names what the reference is."""
    p = paired(a_times, b_times)
    if rate:
        value, ref = work / p["a"], work / p["b"]
        ratio, q1, q3 = 1 / p["ratio"], 1 / p["q3"], 1 / p["q1"]
    else:
        value, ref = p["a"] * scale, p["b"] * scale
        ratio, q1, q3 = p["ratio"], p["q1"], p["q3"]
    text = (
        f"reference: {reference}; {p['rounds']} alternating rounds, ratio = median of the "
        f"per-round ratios (quartiles {q1:.2f}-{q3:.2f})"
    )
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "reference": ref,
        "ratio": ratio,
        "ratio_quartiles": [q1, q3],
        "note": text + (f"; {note}" if note else ""),
    }


def scaling_verdict(speedup: float, busy: float, threads: int, cores: int) -> str | None:
    """Why a ceiling measured with ``threads`` threads on ``cores`` usable CPUs cannot be
    trusted, or None: ``speedup`` (all threads over one thread, alternating) and ``busy``
    (CPU seconds per wall second of the best timing) must each reach at least half of the
    ideal gain, ``1 + (min(threads, cores) - 1) / 2``."""
    n = min(threads, cores)
    if cores <= 1:
        return None  # one core: its ceiling is the machine's
    if n <= 1:
        return "measured on one thread only: the ceiling of one core, not of the machine"
    need = 1 + (n - 1) / 2
    why = []
    if speedup < need:
        why.append(
            f"{threads} threads ran only {speedup:.2f}x as fast as 1 (expected >= {need:.1f})"
        )
    if busy < need:
        why.append(f"the best timing kept only {busy:.2f} cores busy of {n}")
    if not why:
        return None
    return (
        "; ".join(why) + ": other work held cores, a thread limit in the environment, or "
        "hyperthreads sharing a core; shares of this ceiling read too high"
    )


# -- training benchmarks: the plugin's trainer alternating with a plain reference loop ------
def training_parser(description: str) -> argparse.ArgumentParser:
    """:func:`parser` with the options of the alternating training benchmarks."""
    ap = parser(description)
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds per configuration")
    ap.add_argument("--chunk", type=int, default=None, help="iterations per round (default 1)")
    ap.add_argument("--only", choices=("paper", "recipe"), help="measure one configuration")
    return ap


def configurations(
    only: str | None, paper: dict, recipe: Callable[[], dict | None], recipe_file: str
) -> list[tuple[str, dict]]:
    """``[("paper", paper), ("recipe", recipe())]`` as ``--only`` selects; the recipe's is
    skipped, with a line saying so, when ``recipe()`` finds no ``recipe_file``."""
    configs = []
    if only != "recipe":
        configs.append(("paper", dict(paper)))
    if only != "paper":
        cfg = recipe()
        if cfg is None:
            print(f"{recipe_file} not found: skipping the recipe configuration")
        else:
            configs.append(("recipe", cfg))
    return configs


def torch_threads():
    """Set up torch's threads as a run of the torch plugin does (``OMP_WAIT_POLICY`` before
    torch loads, then ``configure_threads``) and return the ``torch`` module."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as importing artforge_torch does
    import torch

    from artforge_torch.training.device import configure_threads

    configure_threads()
    return torch


def step_context(root: Path, uses: str = "train-gan"):
    """A quiet torch ``StepContext`` in folders under ``root`` (for a trainer outside a run)."""
    from artforge.context import StepContext

    for d in ("step", "work", "run"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return StepContext(
        step_id="bench",
        uses=uses,
        seed=0,
        backend="torch",
        device="auto",
        dir=root / "step",
        work_dir=root / "work",
        run_dir=root / "run",
        recipe_dir=root,
        resolve=lambda ref: None,
        log=lambda m: None,
        quiet=True,
    )


def alternate(
    trainer, reference: Callable[..., float], warmup: int, chunk: int, batch_size: int
) -> dict:
    """Run ``trainer.fit()`` (a torch ``GANTrainer``) with its ``train_step`` wrapped: after
    ``warmup`` plugin iterations ``reference(warmup)`` warms the plain loop up, then after
    every ``chunk`` plugin iterations ``reference(chunk, seed=n)`` runs ``chunk`` iterations
    of it (its seconds), so the two alternate and a neighbour's load hits both alike. A
    plugin iteration is timed from the moment the previous one returned to the loop to the
    end of its ``train_step``. Then the FLOPs of one more (untimed) plugin ``train_step``
    and the checkpoint write, timed on its own. Returns ``plugin_rounds`` and ``ref_rounds``
    (seconds per round), ``flops``, ``t_ckpt``, ``ckpt_mb`` and ``device`` (the runtime's
    description)."""
    import torch

    plugin_times: list[float] = []
    ref_rounds: list[float] = []
    state = {"returned": None, "n": 0}
    real_step = trainer.train_step

    def wrapped(batch):
        losses = real_step(batch)  # .item() / .tolist() inside synchronises a GPU
        end = time.perf_counter()
        state["n"] += 1
        if state["returned"] is not None and state["n"] > warmup:
            plugin_times.append(end - state["returned"])
        if state["n"] >= warmup and (state["n"] - warmup) % chunk == 0:
            if state["n"] == warmup:
                reference(warmup)  # the reference's own warm-up
            else:
                ref_rounds.append(reference(chunk, seed=state["n"]))
        state["returned"] = time.perf_counter()
        return losses

    trainer.train_step = wrapped
    trainer.save = lambda: None  # checkpoint I/O is timed separately below
    trainer.fit()
    # FLOPs of one plugin iteration (D and G updates, forward + backward)
    batch = next(iter(trainer.data.epoch(batch_size, torch.Generator().manual_seed(0))))
    flops = count_flops(lambda: real_step(batch))
    del trainer.save
    t0 = time.perf_counter()
    trainer.save()
    t_ckpt = time.perf_counter() - t0
    return {
        "plugin_rounds": [
            sum(plugin_times[i : i + chunk]) for i in range(0, len(plugin_times), chunk)
        ],
        "ref_rounds": ref_rounds,
        "flops": flops,
        "t_ckpt": t_ckpt,
        "ckpt_mb": trainer.checkpoint_path.stat().st_size / 1e6,
        "device": trainer.rt.describe(),
    }


def alternate_rows(
    m: dict, name: str, label: str, chunk: int, mb_digits: int = 1, state: str = "nets, Adam, RNG"
) -> list[dict]:
    """The rows of an :func:`alternate` measurement: ``name`` (it/s beside the plain loop,
    medians over the rounds, the ratio the median of the per-round ratios, with FLOP/s) and
    the checkpoint write of ``label`` (what its full ``state`` holds)."""
    plugin_rounds, ref_rounds = m["plugin_rounds"], m["ref_rounds"]
    n = min(len(plugin_rounds), len(ref_rounds))  # a last plugin round may lack its partner
    plugin_rounds, ref_rounds = plugin_rounds[:n], ref_rounds[:n]
    p = paired(plugin_rounds, ref_rounds)
    plugin_rate, ref_rate = chunk / p["a"], chunk / p["b"]
    t_ckpt = m["t_ckpt"]
    return [
        with_flops(
            {
                "name": name,
                "value": plugin_rate,
                "unit": "it/s",
                "reference": ref_rate,
                "ratio": 1 / p["ratio"],  # the median of the per-round rate ratios
                "ratio_quartiles": [1 / p["q3"], 1 / p["q1"]],
                "note": f"overhead {100 * (p['ratio'] - 1):+.1f}% (median per-round time ratio; "
                f"quartiles {p['q1']:.2f}-{p['q3']:.2f}); reference: plain loop, "
                f"{n} alternating rounds of {chunk}",
            },
            m["flops"],
            plugin_rate,
            ref_rate,
        ),
        {
            "name": f"checkpoint write, {label}",
            "value": t_ckpt,
            "unit": "s",
            "note": f"{m['ckpt_mb']:.{mb_digits}f} MB full state ({state}), atomic + "
            f"fsync; = {t_ckpt * plugin_rate:.1f} iterations",
        },
    ]


# -- plain reference loops ----------------------------------------------------------------------
class PlainGAN:
    """The base of the plain PyTorch reference loops (``reference_*.py``): Adam (``lr``,
    beta1 0.5) for G and D and, on CUDA, the plugin's precision policy (bf16 autocast where
    supported, else fp16 with a gradient scaler; channels_last); ``_autocast()``."""

    def __init__(self, G, D, device, lr: float = 2e-4):
        import torch

        self.G, self.D, self.device = G, D, device
        self.opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
        cuda = device.type == "cuda"
        self.dtype = None
        if cuda:
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            G.to(memory_format=torch.channels_last)
            D.to(memory_format=torch.channels_last)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.channels_last = cuda
        G.train()
        D.train()

    def _autocast(self):
        import torch

        if self.dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.dtype)


def random_pairs(n: int, image_size: int, device, seed: int = 0):
    """``n`` random images per side (a, b) in [-1, 1] on the device (content does not change
    the cost); channels_last on CUDA."""
    import torch

    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 3, image_size, image_size, generator=g) * 2 - 1
    b = torch.rand(n, 3, image_size, image_size, generator=g) * 2 - 1
    a, b = a.to(device), b.to(device)
    if device.type == "cuda":
        a = a.contiguous(memory_format=torch.channels_last)
        b = b.contiguous(memory_format=torch.channels_last)
    return a, b


def timed_steps(
    step: Callable[[object], object], count: int, device, steps: int, batch_size: int, seed: int
) -> float:
    """Seconds for ``steps`` calls of ``step(idx)`` with ``batch_size`` random indices below
    ``count`` (on ``device``), synchronised at the end on CUDA."""
    import torch

    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(torch.randint(0, count, (batch_size,), generator=g).to(device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0
