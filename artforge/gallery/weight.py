"""The weight of a gallery page: what a browser loads to show all of it.

``python -m artforge.gallery.weight RUN_DIR`` prints the bytes of ``index.html`` and of every
file it loads when scrolled from top to bottom (images, lazy ones included), leaving out what
waits until asked for ("show all" lists, lazy images in a closed ``<details>``) and what is
only linked (originals behind thumbnails, downloads). Read from the files on disk, so it measures any version's page.
"""

from __future__ import annotations

import argparse
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # open <template>/<details>: does it hold its content back?
        self.loaded: list[str] = []
        self.deferred: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("template", "details"):
            self.stack.append(tag == "template" or "open" not in a)
        src = a.get("src") if tag in ("img", "script", "iframe", "video", "source") else None
        if tag == "link" and a.get("rel") in ("stylesheet", "icon"):
            src = a.get("href")
        if src and not src.startswith(("data:", "#")):
            (self.deferred if any(self.stack) else self.loaded).append(src)

    def handle_endtag(self, tag):
        if tag in ("template", "details") and self.stack:
            self.stack.pop()


def page_weight(run_dir: Path) -> dict[str, int]:
    """{"html": bytes, "files": bytes of distinct files loaded, "count": how many,
    "deferred": bytes behind "show all", "total": html + files}."""
    page = Path(run_dir) / "index.html"
    text = page.read_text(encoding="utf-8")
    parser = _Loads()
    parser.feed(text)

    def size(urls: list[str]) -> tuple[int, int]:
        seen = set()
        total = 0
        for u in urls:
            path = unquote(urlsplit(u).path)
            if path in seen:
                continue
            seen.add(path)
            f = page.parent / path
            if f.is_file():
                total += f.stat().st_size
        return total, len(seen)

    files, count = size(parser.loaded)
    deferred, _ = size([u for u in parser.deferred if u not in parser.loaded])
    html = len(text.encode("utf-8"))
    return {
        "html": html,
        "files": files,
        "count": count,
        "deferred": deferred,
        "total": html + files,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    args = ap.parse_args(argv)
    if not (args.run_dir / "index.html").is_file():
        print(f"error: {args.run_dir / 'index.html'} does not exist", file=sys.stderr)
        return 2
    w = page_weight(args.run_dir)
    print(
        f"{args.run_dir / 'index.html'}: {w['total'] / 1024:.0f} KB in all "
        f"(page {w['html'] / 1024:.0f} KB + {w['count']} files {w['files'] / 1024:.0f} KB; "
        f"{w['deferred'] / 1024:.0f} KB more held back until asked for)"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
