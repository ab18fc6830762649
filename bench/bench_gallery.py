"""How long the gallery takes to build for a run with many images.

    python bench/bench_gallery.py [--images 500] [--size 128] [--quick] [--json PATH]

Writes a synthetic finished run (three image sets of N/3 images, per-epoch samples, loss
curves, a collage) into a temporary folder, then times: the first build (thumbnails, zips,
plots made), a rebuild with everything cached, and `gallery build` after one image changed.
Reference: the first build; the ratio of a rebuild is rebuild / first build (the share of
the first build's time that a rebuild costs). Single process, mostly Pillow (thumbnails) and zlib (zips).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import parser, report

from artforge.gallery import build_gallery
from tests.gallery.synth import make_run


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--images", type=int, default=None, help="images in the run (about; 500)")
    ap.add_argument("--size", type=int, default=128, help="image edge in pixels")
    args = ap.parse_args()
    images = args.images or (150 if args.quick else 500)
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp) / "gallery", count=max(1, images // 3), size=args.size)
        n = sum(1 for _ in (run / "steps").rglob("*.png"))
        t0 = time.perf_counter()
        build_gallery(run)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_gallery(run)
        cached = time.perf_counter() - t0
        (run / "steps/translate/images/scene00000.png").touch()
        t0 = time.perf_counter()
        build_gallery(run)
        one = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (run / "_gallery").rglob("*") if p.is_file())
    label = f"{n} images of {args.size}px"
    rows = [
        {
            "name": f"first build, {label}",
            "value": first,
            "unit": "s",
            "note": f"thumbnails, zips, plots; {size / 1e6:.1f} MB; {n / first:.0f} images/s",
        },
        {
            "name": f"cached rebuild, {label}",
            "value": cached,
            "unit": "s",
            "reference": first,
            "ratio": cached / first,
            "note": "reference: the first build",
        },
        {
            "name": f"rebuild, one image newer, {label}",
            "value": one,
            "unit": "s",
            "reference": first,
            "ratio": one / first,
            "note": "reference: the first build",
        },
    ]
    report("Gallery build", rows, args.json)


if __name__ == "__main__":
    main()
