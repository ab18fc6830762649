import json
import subprocess
import sys

from tests.conftest import ROOT


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return out.stdout.strip()


def test_import_cli_imports_no_framework():
    code = (
        "import sys, json, artforge.cli; "
        "print(json.dumps([m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]))"
    )
    assert json.loads(_run(code)) == []


def test_help_and_plugins_import_no_framework():
    code = (
        "import sys, json, contextlib, io\n"
        "from artforge.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); main(['plugins']); main(['steps'])\n"
        "print(json.dumps([m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]))"
    )
    assert json.loads(_run(code)) == []


def test_version(capsys):
    from artforge import __version__
    from artforge.cli import main

    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
