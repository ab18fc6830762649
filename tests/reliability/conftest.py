"""Fixtures of the reliability suite, and a tally of what it tried (printed at the end of the
pytest run: bad-input cases, bad images, property-test examples, SIGKILL trials survived)."""

from __future__ import annotations

import hashlib
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

TALLY: Counter = Counter()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tally() -> Counter:
    return TALLY


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if TALLY:
        terminalreporter.write_sep("-", "reliability: what the tests tried")
        for key, n in sorted(TALLY.items()):
            terminalreporter.write_line(f"{key}: {n}")


@pytest.fixture
def fresh_cli(monkeypatch):
    """``artforge.cli.main`` with a new plugin host (a recipe's plugins load into the host)
    and no bytecode files written beside recipe plugins."""
    from artforge import cli

    monkeypatch.setattr(cli, "_HOST", [])
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return cli.main


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: kind, size, modification time and content hash."""
    out: dict[str, tuple] = {}
    if not root.exists():
        return out
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode)
            else:
                out[rel] = (
                    "file",
                    st.st_size,
                    st.st_mtime_ns,
                    hashlib.sha256(p.read_bytes()).hexdigest(),
                )
    return out


def subprocess_env() -> dict[str, str]:
    """The environment of an ``artforge`` child process: this checkout first on the path,
    one thread (the test machine's cores are shared)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture
def rhost(monkeypatch):
    """A plugin host with the installed plugins and the reliability test plugin, used by
    ``artforge.cli.main`` in this process too."""
    from artforge import cli
    from artforge.plugins import PluginHost

    from .plugin import ReliabilityPlugin

    host = PluginHost()
    host.add_module(ReliabilityPlugin(), name="reliability", source="test")
    monkeypatch.setattr(cli, "_HOST", [host])
    return host
