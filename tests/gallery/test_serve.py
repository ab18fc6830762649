"""Issue 14, item 3: ``artforge gallery serve`` is a safe local server. Every test binds
127.0.0.1 on a free port, and every request has a timeout."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading

import pytest

from artforge.gallery.serve import loopback_host, make_server

SECRET = b"the user's secret, outside the served folder"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A served folder with a page, internal files, and links that lead in and out."""
    tmp_path = tmp_path_factory.mktemp("serve")
    root = tmp_path / "served"
    (root / "run/steps/a").mkdir(parents=True)
    (root / "index.html").write_text("<p>the index</p>")
    (root / "run/steps/a/page.html").write_text("<p>a run</p>")
    (root / "run/steps/a/x.png").write_bytes(b"\x89PNG fake")
    (root / "run/.lock").write_text("pid 1")
    (root / "run/.artforge-run").write_text("{}")
    (root / "run/.work/t").mkdir(parents=True)
    (root / "run/.work/t/checkpoint.pt").write_bytes(b"weights")
    (root / "run/.staging/t").mkdir(parents=True)
    (root / "run/.staging/t/half.png").write_bytes(b"half")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "run/steps/a/leak.txt").symlink_to(outside / "secret.txt")
    (root / "run/steps/out").symlink_to(outside)
    (root / "run/steps/a/alias.png").symlink_to(root / "run/steps/a/x.png")  # stays inside
    return root


@pytest.fixture(scope="module")
def server(site):
    with make_server(site, 0) as srv:
        thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield srv
        finally:
            srv.shutdown()
            thread.join(5)


def get(server, path: str, host: str | None = None) -> tuple[int, bytes]:
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def raw(server, data: bytes) -> bytes:
    """Send raw bytes; the server's answer (its first line matters)."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as s:
        s.sendall(data)
        chunks = []
        with contextlib.suppress(socket.timeout, ConnectionError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def test_serves_regular_files_inside(server):
    assert get(server, "/run/steps/a/x.png") == (200, b"\x89PNG fake")
    assert get(server, "/run/steps/a/alias.png") == (200, b"\x89PNG fake")  # a link inside
    status, body = get(server, "/")
    assert status == 200 and body == b"<p>the index</p>"


@pytest.mark.parametrize(
    "path",
    [
        "/run/steps/a/leak.txt",
        "/run/steps/out/secret.txt",
        "/run/steps/out/",
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/run/%2e%2e/%2e%2e/outside/secret.txt",
        "/run/..%2f..%2foutside/secret.txt",
    ],
)
def test_no_path_leads_out(server, path):
    status, body = get(server, path)
    assert status in (400, 404) and SECRET not in body


@pytest.mark.parametrize(
    "path",
    [
        "/run/.lock",
        "/run/.artforge-run",
        "/run/.work/t/checkpoint.pt",
        "/run/.staging/t/half.png",
        "/run/.work/",
        "/run/%2elock",
    ],
)
def test_internal_files_are_not_served(server, path):
    assert get(server, path)[0] == 404


def test_listings_show_no_internal_names_nor_links_out(server):
    status, body = get(server, "/run/")
    assert status == 200 and b"steps/" in body
    for name in (b".lock", b".work", b".staging", b".artforge-run"):
        assert name not in body
    status, body = get(server, "/run/steps/")
    assert status == 200 and b"a/" in body and b"out/" not in body


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:8000", "127.0.0.1", "127.0.0.2:1", "[::1]:8000", "app.localhost"],
)
def test_loopback_hosts_are_answered(server, host):
    assert get(server, "/run/steps/a/x.png", host=host)[0] == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.1", "", "[::2]"],
)
def test_other_hosts_are_refused(server, host):
    """DNS rebinding: a page from evil.example whose name now points at 127.0.0.1 sends
    ``Host: evil.example``; it gets nothing."""
    status, body = get(server, "/run/steps/a/x.png", host=host)
    assert status == 403 and b"PNG" not in body
    assert not loopback_host(host)


def test_a_request_without_host_is_refused(server):
    answer = raw(server, b"GET /index.html HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 403")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /run/steps/a/x.png%00.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", b"400"),
        (b"GET /run/\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n", b"400"),
        (b"GET /%ff%fe HTTP/1.1\r\nHost: localhost\r\n\r\n", b"400"),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + b"b" * 70000 + b"\r\n\r\n", b"431"),
        (
            b"GET / HTTP/1.1\r\nHost: localhost\r\n"
            + b"".join(b"X-%d: y\r\n" % i for i in range(200))
            + b"\r\n",
            b"431",
        ),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n", b"400"),
        (b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n", b"505"),
    ],
    ids=[
        "null-escaped",
        "null-raw",
        "bad-utf8",
        "long-path",
        "huge-header",
        "many-headers",
        "tls",
        "version",
    ],
)
def test_malformed_requests_get_an_answer_not_a_traceback(server, capfd, request_bytes, status):
    answer = raw(server, request_bytes)
    first = answer.split(b"\r\n", 1)[0]
    # an unparsable request line gets an HTTP/0.9 answer: the error page without a status line
    assert first.split(b" ")[1:2] == [status] or b"Error code: " + status in answer, answer[:200]
    assert get(server, "/run/steps/a/x.png")[0] == 200  # and the server goes on
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("port", ["0", "-1", "65536", "70000"])
def test_a_port_outside_1_to_65535_is_refused(tmp_path, port, capsys, monkeypatch):
    from artforge.cli import main
    from artforge.gallery import serve

    def never(*args, **kwargs):  # a refused port must not get this far
        raise AssertionError("the server started")

    monkeypatch.setattr(serve._Server, "serve_forever", never)

    assert main(["gallery", "serve", str(tmp_path), "--port", port]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}: not a TCP port" in err and "Traceback" not in err
