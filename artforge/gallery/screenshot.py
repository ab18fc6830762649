"""Screenshot a gallery page in headless Chromium (how the README's screenshot is made).

    python -m artforge.gallery.screenshot gallery/night-to-day docs/gallery.png
    python -m artforge.gallery.screenshot gallery/night-to-day shot.png --width 390 --full
    python -m artforge.gallery.screenshot gallery/night-to-day shot.png --step translate

Needs the ``playwright`` package (the ``dev`` extra) and a Chromium: Debian's ``chromium``
(``/usr/bin/chromium``, the default) or any other given with ``--chromium``. Offline: the page
is opened from ``file://``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def screenshot(
    page_path: Path,
    out: Path,
    *,
    width: int = 1280,
    height: int = 1000,
    full: bool = False,
    step: str | None = None,
    chromium: str = "/usr/bin/chromium",
) -> Path:
    """Save a PNG of ``page_path`` (a run directory or an HTML file) as seen in Chromium."""
    from playwright.sync_api import sync_playwright

    page_path = Path(page_path)
    if page_path.is_dir():
        page_path = page_path / "index.html"
    if not page_path.is_file():
        raise SystemExit(f"no gallery page at {page_path}: run `artforge gallery build` first")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            page.evaluate(
                """() => Promise.all(Array.from(document.images).map(img => {
                       img.loading = "eager";
                       return img.complete && img.naturalWidth ? null :
                           new Promise(ok => { img.onload = img.onerror = ok; });
                   }))"""
            )
            if step:
                page.locator(f"[id='step-{step}']").evaluate("e => e.scrollIntoView()")
            page.screenshot(path=str(out), full_page=full)
        finally:
            browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m artforge.gallery.screenshot", description=__doc__.splitlines()[0]
    )
    ap.add_argument("page", type=Path, help="a run directory or a gallery HTML file")
    ap.add_argument("out", type=Path, help="the PNG to write")
    ap.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    ap.add_argument("--height", type=int, default=1000, help="viewport height in CSS pixels")
    ap.add_argument("--full", action="store_true", help="the whole page, not just the viewport")
    ap.add_argument("--step", help="scroll to this step's section first")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium executable")
    args = ap.parse_args(argv)
    out = screenshot(
        args.page,
        args.out,
        width=args.width,
        height=args.height,
        full=args.full,
        step=args.step,
        chromium=args.chromium,
    )
    print(out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
