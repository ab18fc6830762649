"""Synthetic scene throughput: night/day pairs per second on one CPU core.

    python bench/bench_scenes.py [--quick] [--json PATH]

The renderer is numpy only, so the device is always the CPU; the process pins itself to one
core and BLAS to one thread. Reference in the same run: PNG-encoding the same pairs (what the
``synthetic-scenes`` step also pays to store them), alternating with the rendering (rounds
AB, BA, ...); ratio = render rate / encode rate, the median of the per-round ratios.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import io  # noqa: E402

from common import alternate_rounds, paired_row, parser, report  # noqa: E402
from PIL import Image  # noqa: E402


def main() -> None:
    args = parser(__doc__).parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from artforge.scenes import render_pairs

    repeat = 3 if args.quick else 5
    rows = []
    for size, count in ((64, 50 if args.quick else 200), (256, 5 if args.quick else 20)):
        pairs = [(n, d) for _, n, d in render_pairs(1, count, size)]

        def encode(pairs=pairs):
            for n, d in pairs:
                for img in (n, d):
                    Image.fromarray(img).save(io.BytesIO(), format="PNG", compress_level=4)

        def render(size=size, count=count):
            list(render_pairs(1, count, size))

        t_render, t_encode = alternate_rounds(render, encode, repeat)
        row = paired_row(
            f"render pairs {size}x{size}",
            t_render,
            t_encode,
            unit="pairs/s",
            reference="PNG-encoding the same pairs",
            work=count,
            note="cpu, 1 core",
        )
        row["device"] = "cpu (1 core)"
        rows.append(row)
    print(f"device: cpu (numpy, one core: pid {os.getpid()} pinned, BLAS 1 thread)")
    report("Synthetic scenes (numpy, one core)", rows, args.json)


if __name__ == "__main__":
    main()
