"""The machine's own ceiling: float32 matmul and 3x3 convolution throughput (PyTorch).

    python bench/bench_ceiling.py [--quick] [--json PATH]

Training benchmarks report their achieved FLOP/s as a fraction of these numbers:
``bench/run_all.py`` measures them first (and again last) and divides every training row's
``gflops`` by the best rows marked ``"ceiling": "matmul"`` and ``"ceiling": "conv3x3"``.

A ceiling is a peak of the whole machine, so:

- **every core**: the threads are set explicitly to every CPU this process may use
  (``os.sched_getaffinity``), whatever ``OMP_NUM_THREADS`` or torch's default (which counts
  physical cores only) says, and each ceiling is the best over 1 thread, torch's default and
  every usable CPU (hyperthreads can help or hurt);
- **the fastest** of its timed repetitions, not the median; the matmul is 2048² on up to 4
  cores and 4096² beyond (a matrix too small for many cores does not scale);
- **sanity-checked**: the matmul at every usable CPU alternates with the matmul on one
  thread (rounds AB, BA, ...; the median of the per-round ratios): on N cores it should be
  well above 1 (ideally N). The process's CPU time over the wall time of the best timing
  says how many cores it really had. Either falling short of half the cores' gain marks the
  ceiling row ``suspect`` with the reason (other work held cores, a thread limit in the
  environment, hyperthreads sharing one core), and ``run_all.py`` flags the ceiling, not the
  loop, when a training row reads above it.

The conv 3x3 ceiling is a wide layer (256 -> 256 channels, 32x32, batch 16); the narrower
64 -> 128 layer of earlier runs is kept beside it for comparison (narrow layers are slower
per FLOP).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the torch plugin sets

from common import alternate_rounds, paired, parser, report, scaling_verdict  # noqa: E402


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def best(fn, repeat: int, sync=None) -> tuple[float, float]:
    """The fastest of ``repeat`` timed calls after two warm-up calls, and the process's CPU
    seconds per wall second during that fastest call (the cores it really used)."""
    for _ in range(2):
        fn()
    if sync:
        sync()
    fastest, busy = float("inf"), 0.0
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        if sync:
            sync()
        t, c = time.perf_counter() - t0, time.process_time() - c0
        if t < fastest:
            fastest, busy = t, c / t
    return fastest, busy


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    cores = usable_cores()
    default_threads = torch.get_num_threads()
    # every thread count worth trying, the machine's all usable CPUs first
    counts = sorted({cores, default_threads, 1}, reverse=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else None
    repeat = 5 if args.quick else 10
    rows = []
    n = 8192 if dev == "cuda" else (2048 if cores <= 4 else 4096)
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    flops_mm = 2 * n**3

    def peak(fn, flops: int) -> tuple[float, int, float]:
        """Best GFLOP/s over the thread counts: (GFLOP/s, threads, busy cores)."""
        found = (0.0, 0, 0.0)
        for k in counts if dev == "cpu" else [default_threads]:
            torch.set_num_threads(k)
            t, busy = best(fn, repeat, sync)
            if flops / t / 1e9 > found[0]:
                found = (flops / t / 1e9, k, busy)
        torch.set_num_threads(cores)
        return found

    g, k, busy_mm = peak(lambda: a @ b, flops_mm)
    mm_row = {
        "name": f"matmul fp32 {n}x{n}",
        "value": g,
        "unit": "GFLOP/s",
        "ceiling": "matmul",
        "note": f"best of {repeat}, at {k} threads (tried {', '.join(map(str, counts))}); "
        f"{busy_mm:.2f} cores busy",
    }
    rows.append(mm_row)
    for cin, cout, hw, bs, mark in ((256, 256, 32, 16, "conv3x3"), (64, 128, 32, 64, None)):
        x = torch.randn(bs, cin, hw, hw, device=dev)
        conv = torch.nn.Conv2d(cin, cout, 3, padding=1).to(dev)
        flops = 2 * cin * cout * 9 * hw * hw * bs

        def run(conv=conv, x=x):
            with torch.inference_mode():
                conv(x)

        g, k, busy = peak(run, flops)
        row = {
            "name": f"conv2d 3x3 {cin}->{cout} {hw}x{hw} batch {bs}",
            "value": g,
            "unit": "GFLOP/s",
            "note": f"best of {repeat}, at {k} threads; {busy:.2f} cores busy"
            + ("" if mark else "; narrow layer, for comparison"),
        }
        if mark:
            row["ceiling"] = mark
        rows.append(row)
    if dev == "cpu":
        # the sanity check: every usable CPU against one thread, taking turns
        def threads(k):
            def call():
                torch.set_num_threads(k)
                a @ b

            return call

        t_all, t_one = alternate_rounds(threads(cores), threads(1), 4 if args.quick else 6)
        torch.set_num_threads(cores)
        p = paired(t_all, t_one)
        speedup = 1 / p["ratio"]
        rows.append(
            {
                "name": f"matmul fp32, {cores} threads vs 1 thread",
                "value": flops_mm / p["a"] / 1e9,
                "unit": "GFLOP/s",
                "reference": flops_mm / p["b"] / 1e9,
                "ratio": speedup,
                "ratio_quartiles": [1 / p["q3"], 1 / p["q1"]],
                "note": f"reference: 1 thread; {p['rounds']} alternating rounds, ratio = median "
                f"of the per-round ratios; {cores} usable CPUs, torch's default "
                f"{default_threads} threads",
            }
        )
        verdict = scaling_verdict(speedup, busy_mm, cores, cores)
        if verdict:
            for row in rows:
                if row.get("ceiling"):
                    row["suspect"] = verdict
            print(f"CEILING SUSPECT: {verdict}")
    report("Machine ceiling", rows, args.json)


if __name__ == "__main__":
    main()
