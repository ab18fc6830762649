"""``artforge gallery serve``: a local static HTTP server for galleries (127.0.0.1 only)."""

from __future__ import annotations

import errno
import functools
import http.server
from pathlib import Path

from ..errors import ArtforgeError


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files quietly: only failed requests are logged."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".webp": "image/webp",
        ".svg": "image/svg+xml",
        ".json": "application/json",
        ".yaml": "text/plain; charset=utf-8",
    }

    def log_request(self, code="-", size="-"):  # noqa: D401 - http.server API
        if isinstance(code, int) and code >= 400 or str(code).startswith(("4", "5")):
            super().log_request(code, size)


def make_server(directory: str | Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for ``directory`` on 127.0.0.1:``port`` (0 picks a free port); not yet running."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtforgeError(
            f"no such folder: {directory}", hint="run a recipe first, or give a run directory"
        )
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ArtforgeError(
                f"port {port} on 127.0.0.1 is already in use",
                hint="choose another with --port, e.g. --port 8001 (or --port 0 for any free one)",
            ) from None
        raise ArtforgeError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def page_url(server: http.server.ThreadingHTTPServer, directory: str | Path) -> str:
    """The URL of the folder's page (its index.html when it has one)."""
    port = server.server_address[1]
    return f"http://127.0.0.1:{port}/" + (
        "index.html" if (Path(directory) / "index.html").is_file() else ""
    )
