"""Synthetic scene throughput: night/day pairs per second on one core.

    python bench/bench_scenes.py

Reference in the same run: PNG-encoding the same pairs (what the step also pays to store them).
"""

from __future__ import annotations

import io
import time

from common import parser, report
from PIL import Image


def main() -> None:
    args = parser(__doc__).parse_args()
    from artforge.scenes import render_pairs

    rows = []
    for size, count in ((64, 100 if args.quick else 400), (256, 10 if args.quick else 40)):
        list(render_pairs(0, 5, size))  # warm-up
        t0 = time.perf_counter()
        pairs = [(n, d) for _, n, d in render_pairs(1, count, size)]
        render = time.perf_counter() - t0
        t0 = time.perf_counter()
        for n, d in pairs:
            for img in (n, d):
                Image.fromarray(img).save(io.BytesIO(), format="PNG", compress_level=4)
        encode = time.perf_counter() - t0
        rows.append(
            {
                "name": f"render pairs {size}x{size}",
                "value": count / render,
                "unit": "pairs/s",
                "reference": count / encode,
                "ratio": encode / render,
                "note": "reference: PNG-encoding the same pairs",
            }
        )
    report("Synthetic scenes (numpy, one core)", rows, args.json)


if __name__ == "__main__":
    main()
