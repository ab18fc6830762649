"""Fixtures of the plugin-author tests: throwaway plugins, and fresh virtual environments.

A fresh environment is a new venv whose site-packages chain to this interpreter's (through
a .pth that calls site.addsitedir), so it sees artforge, numpy, torch and pip without a
download, while whatever pip installs into it stays out of the shared environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GLITCH = ROOT / "plugins" / "examples" / "artforge-glitch"
DOCS = ROOT / "docs" / "plugins.md"


@pytest.fixture
def plugin_module():
    """Build a throwaway plugin module from source text: plugin_module(code, name)."""
    made: list[str] = []

    def make(code: str, name: str = "throwaway_plugin") -> types.ModuleType:
        module = types.ModuleType(name)
        module.__file__ = f"<{name}>"
        sys.modules[name] = module  # pydantic resolves annotations through sys.modules
        made.append(name)
        exec(compile(textwrap.dedent(code), module.__file__, "exec"), module.__dict__)
        return module

    yield make
    for name in made:
        sys.modules.pop(name, None)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ARTFORGE_PLUGINS", "ARTFORGE_TRACE_PLUGINS", "PYTHONPATH", "PIP_USER")
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


@dataclass
class Venv:
    root: Path
    python: Path

    def run(self, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.python), *args],
            cwd=cwd,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def artforge(self, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return self.run("-m", "artforge", *args, cwd=cwd)

    def pip_install(self, target: Path, *, editable: bool = False) -> None:
        """pip install [-e] TARGET, offline: dependencies must already be present."""
        args = ["-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-cache-dir"]
        out = self.run(*args, *(["-e"] if editable else []), str(target), cwd=self.root)
        assert out.returncode == 0, f"pip install failed:\n{out.stdout}\n{out.stderr}"


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory):
    """fresh_venv(name) -> a new Venv layered on this interpreter's packages."""

    def make(name: str) -> Venv:
        root = tmp_path_factory.mktemp(name)
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
            check=True,
            capture_output=True,
        )
        python = root / "venv" / "bin" / "python"
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        base = sysconfig.get_paths()["purelib"]
        Path(purelib, "_artforge_base.pth").write_text(f"import site; site.addsitedir({base!r})\n")
        return Venv(root, python)

    return make
