"""How long the gallery takes to build for a run with many images.

    python bench/bench_gallery.py [--images 500] [--size 128]

Writes a synthetic finished run (three image sets of N/3 images, per-epoch samples, loss
curves, a collage) into a temporary folder, then times: the first build (thumbnails, zips,
plots made), a rebuild with everything cached, and `gallery build` after one image changed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from artforge.gallery import build_gallery  # noqa: E402
from tests.gallery.synth import make_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500, help="images in the run (about)")
    ap.add_argument("--size", type=int, default=128, help="image edge in pixels")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp) / "gallery", count=max(1, args.images // 3), size=args.size)
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
        print(f"{n} images of {args.size}px")
        print(f"first build      {first:6.2f} s  (thumbnails, zips, plots; {size / 1e6:.1f} MB)")
        print(f"cached rebuild   {cached:6.2f} s")
        print(f"one image newer  {one:6.2f} s")


if __name__ == "__main__":
    main()
