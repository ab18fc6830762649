"""``artforge gallery serve``: a local static HTTP server for galleries (127.0.0.1 only).

What it guarantees (README, "The gallery"):

- it listens on 127.0.0.1 only, and answers only requests whose ``Host`` header names a
  loopback address or ``localhost`` (403 otherwise), so a web page from elsewhere cannot read
  the galleries through DNS rebinding;
- it serves only regular files whose resolved path lies inside the served folder: a symbolic
  link that leads out, ``..`` in any spelling, or a null byte gets 404 or 400;
- it never serves or lists hidden names (``.lock``, ``.artforge-run``, ``.work/``,
  ``.staging/``, temporary files): anything whose path has a part starting with ``.``;
- malformed requests (a null byte, a header line over 64 KiB, too many headers, a bad request
  line) get a 4xx answer or a one-line log message, never a traceback, and the server goes on;
  a client that sends nothing is dropped after 30 s;
- it only reads: nothing under the folder is written, moved or deleted.
"""

from __future__ import annotations

import errno
import functools
import html
import http.server
import io
import ipaddress
import os
import stat
import sys
import urllib.parse
from pathlib import Path

from ..errors import ArtforgeError

MIN_PORT, MAX_PORT = 1, 65535


def loopback_host(value: str | None) -> bool:
    """True if a ``Host`` header names this machine: ``localhost`` (or ``*.localhost``), or a
    loopback address (``127.0.0.0/8``, ``[::1]``), with or without a port."""
    if not value:
        return False
    host = value.strip()
    if host.startswith("["):  # [::1]:8000
        end = host.find("]")
        host = host[1:end] if end > 0 else ""
    elif host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the regular files inside one folder, to loopback hosts only, quietly (only
    failed requests are logged)."""

    timeout = 30  # seconds a silent client may hold its thread
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".webp": "image/webp",
        ".svg": "image/svg+xml",
        ".json": "application/json",
        ".yaml": "text/plain; charset=utf-8",
    }

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if not loopback_host(self.headers.get("Host")):
            self.send_error(403, "Forbidden: this server answers only to localhost")
            return False
        return True

    def _resolve(self) -> tuple[int, str | None]:
        """(status, real path): 200 with a regular file or folder inside the served folder."""
        raw = urllib.parse.urlsplit(self.path).path
        path = urllib.parse.unquote(raw, errors="strict") if "%" in raw else raw
        if "\x00" in path or "\\" in path:
            return 400, None
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if any(p == ".." or p.startswith(".") for p in parts):
            return 404, None  # no way up, and no hidden or internal name
        root = os.path.realpath(self.directory)
        real = os.path.realpath(os.path.join(root, *parts))
        if real != root and not real.startswith(root + os.sep):
            return 404, None  # a link that leads out
        try:
            mode = os.stat(real).st_mode
        except OSError:
            return 404, None
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return 404, None
        return 200, real

    def send_head(self):
        try:
            status, real = self._resolve()
        except (UnicodeDecodeError, ValueError):
            status, real = 400, None
        if real is None:
            self.send_error(status)
            return None
        if os.path.isdir(real):
            if not urllib.parse.urlsplit(self.path).path.endswith("/"):
                parts = urllib.parse.urlsplit(self.path)
                self.send_response(301)
                self.send_header(
                    "Location", urllib.parse.urlunsplit(parts._replace(path=parts.path + "/"))
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            index = os.path.realpath(os.path.join(real, "index.html"))
            root = os.path.realpath(self.directory)
            if index.startswith(root + os.sep) and os.path.isfile(index):
                real = index
            else:
                return self.list_directory(real)
        try:
            fh = open(real, "rb", opener=_no_follow)  # noqa: SIM115 - copyfile closes it
        except OSError:
            self.send_error(404)
            return None
        fs = os.fstat(fh.fileno())
        if not stat.S_ISREG(fs.st_mode):
            fh.close()
            self.send_error(404)
            return None
        self.send_response(200)
        self.send_header("Content-type", self.guess_type(real))
        self.send_header("Content-Length", str(fs.st_size))
        self.send_header("Last-Modified", self.date_time_string(int(fs.st_mtime)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        return fh

    def list_directory(self, path):
        """A listing without hidden names, and without links that lead out."""
        root = os.path.realpath(self.directory)
        try:
            names = sorted(os.listdir(path), key=str.lower)
        except OSError:
            self.send_error(404)
            return None
        rows = []
        for name in names:
            full = os.path.realpath(os.path.join(path, name))
            if name.startswith(".") or not full.startswith(root + os.sep):
                continue
            if not (os.path.isfile(full) or os.path.isdir(full)):
                continue
            shown = name + ("/" if os.path.isdir(full) else "")
            href = urllib.parse.quote(shown, errors="surrogateescape")
            rows.append(f'<li><a href="{href}">{html.escape(shown)}</a></li>')
        body = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>artforge</title></head>'
            f"<body><ul>\n{chr(10).join(rows)}\n</ul></body></html>\n"
        ).encode(errors="replace")
        self.send_response(200)
        self.send_header("Content-type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_request(self, code="-", size="-"):  # noqa: D401 - http.server API
        if isinstance(code, int) and code >= 400 or str(code).startswith(("4", "5")):
            super().log_request(code, size)


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """One line, never a traceback: a broken or hostile request must not look like a
        crash, and the server goes on."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        sys.stderr.write(
            f"artforge gallery serve: dropped a request from {client_address[0]}: "
            f"{type(exc).__name__}: {exc}\n"
        )


def check_port(port: int) -> None:
    """Refuse (exit status 2) a port outside 1-65535."""
    if not MIN_PORT <= port <= MAX_PORT:
        raise ArtforgeError(
            f"--port {port}: not a TCP port (they run from {MIN_PORT} to {MAX_PORT})",
            hint="choose one, e.g. --port 8000",
        )


def make_server(directory: str | Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for ``directory`` on 127.0.0.1:``port`` (0 picks a free port); not yet running."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtforgeError(
            f"no such folder: {directory}", hint="run a recipe first, or give a run directory"
        )
    if port != 0:
        check_port(port)
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        return _Server(("127.0.0.1", port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ArtforgeError(
                f"port {port} on 127.0.0.1 is already in use",
                hint="choose another with --port, e.g. --port 8001",
            ) from None
        raise ArtforgeError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def page_url(server: http.server.ThreadingHTTPServer, directory: str | Path) -> str:
    """The URL of the folder's page (its index.html when it has one)."""
    port = server.server_address[1]
    return f"http://127.0.0.1:{port}/" + (
        "index.html" if (Path(directory) / "index.html").is_file() else ""
    )
