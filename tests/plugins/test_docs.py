"""docs/plugins.md is checked against the code: one section per hook with its exact
signature, a test of its own for every hook, examples and a tutorial that really run, and
tables that list exactly the public API and the step context."""

from __future__ import annotations

import ast
import contextlib
import csv
import dataclasses
import importlib.util
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from artforge import cli, hookspecs
from artforge.api import StepContext, run_recipe
from artforge.plugins import HOOK_NAMES, PluginHost

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"


@dataclasses.dataclass
class Section:
    level: int
    title: str
    text: str = ""
    blocks: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (info, code)
    children: list[Section] = dataclasses.field(default_factory=list)

    def python(self) -> str:
        return "\n".join(code for info, code in self.blocks if info.split()[:1] == ["python"])

    def titled(self) -> dict[str, str]:
        return {
            m.group(1): code
            for info, code in self.blocks
            if (m := re.search(r'title="([^"]+)"', info))
        }


def parse(path: Path) -> list[Section]:
    """Top-level (##) sections with their ### children; fenced code is never a heading."""
    sections: list[Section] = []
    current = Section(1, "")
    fence: str | None = None
    code: list[str] = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```"):
                for s in (current, *([sections[-1]] if current.level == 3 else [])):
                    s.blocks.append((fence, "\n".join(code) + "\n"))
                fence = None
            else:
                code.append(line)
            continue
        if stripped.startswith("```"):
            fence, code = stripped[3:].strip(), []
            continue
        m = re.match(r"^(#{2,3}) (.+)$", line)
        if m:
            current = Section(len(m.group(1)), m.group(2).strip())
            if current.level == 2:
                sections.append(current)
            else:
                sections[-1].children.append(current)
            continue
        current.text += line + "\n"
        if current.level == 3:
            sections[-1].text += line + "\n"
    return sections


SECTIONS = parse(DOCS)


def section(title_start: str) -> Section:
    return next(s for s in SECTIONS if s.title.startswith(title_start))


def hook_sections() -> dict[str, Section]:
    found = {}
    for sub in section("Hook reference").children:
        m = re.fullmatch(r"(\w+)\((.*)\)", sub.title)
        assert m, f"hook heading is not NAME(ARGS): {sub.title!r}"
        found[m.group(1)] = sub
    return found


def spec_signature(hook: str) -> str:
    return f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"


# -- every hook: a section, the exact signature, a test ---------------------------------------
def test_every_hook_has_a_section_with_its_exact_signature():
    documented = {name: sub.title for name, sub in hook_sections().items()}
    assert set(documented) == set(HOOK_NAMES), "hooks without a section, or sections for no hook"
    for hook in HOOK_NAMES:
        assert documented[hook] == spec_signature(hook)


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hook_section_says_when_what_and_returns(hook):
    sub = hook_sections()[hook]
    for part in ("**When**", "**Returns**"):
        assert part in sub.text, f"{hook}: no {part}"
    for arg in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f"`{arg}" in sub.text, f"{hook}: argument {arg} is not described"
    assert f"def {hook}(" in sub.python(), f"{hook}: no example implementing it"


def test_every_hook_has_a_test_of_its_own():
    names = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        names |= {
            n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)
        }
    missing = [h for h in HOOK_NAMES if f"test_hook_{h}" not in names]
    assert not missing, f"hooks without a test_hook_<name> in tests/plugins: {missing}"


# -- the hook examples run ---------------------------------------------------------------------
SCENES = "  - {id: scenes, uses: synthetic-scenes, with: {count: 2, holdout: 0, size: 32}}\n"


def load_example(hook: str, plugin_module) -> tuple[PluginHost, object]:
    module = plugin_module(hook_sections()[hook].python(), f"docs_example_{hook}")
    host = PluginHost(load_installed=False)
    host.add_module(module, name=f"example_{hook}", source="docs")
    assert hook in host.infos[f"example_{hook}"].hooks
    host.registry  # noqa: B018 - registration must succeed
    return host, module


def test_example_register_steps(plugin_module, tmp_path):
    _, module = load_example("register_steps", plugin_module)
    recipe = (
        "name: d\nsteps:\n"
        + SCENES
        + "  - {id: i, uses: invert, with: {images: '${scenes.day}'}}\n"
    )
    result = run_recipe(recipe, tmp_path, plugins=[module], load_installed=False)
    src, out = result.images("scenes", "day"), result.images("i")
    assert np.array_equal(out.load(0), 255 - src.load(0))


def test_example_register_backends(plugin_module):
    host, _ = load_example("register_backends", plugin_module)
    assert host.registry.backends["jax"].install == 'pip install "jax[cpu]"'
    assert host.registry.find_step("jax-noise", "jax").backend == "jax"


def test_example_register_models(plugin_module):
    host, _ = load_example("register_models", plugin_module)
    factory = host.registry.component("generator", "tiny", "torch").load()
    with contextlib.suppress(ImportError):
        import torch

        net = factory(nz=5, image_size=8)
        images = net(torch.zeros(2, net.nz))
        assert images.shape == (2, 3, 8, 8) and images.abs().max() <= 1


def test_example_register_trainers(plugin_module, tmp_path, monkeypatch):
    """The hinge + R1 DCGAN trains in its recipe through train-gan, and sample draws from it."""
    pytest.importorskip("torch")
    files = hook_sections()["register_trainers"].titled()
    assert set(files) == {"my_gans/hinge.py", "my_gans/__init__.py", "hinge.yaml"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))  # the package the plugin names its trainer in
    host, module = load_example("register_trainers", plugin_module)
    comp = host.registry.component("trainer", "hinge-r1", "torch")
    assert (comp.data, comp.factory) == ("images", "my_gans.hinge:HingeR1GAN")
    try:
        result = run_recipe(
            tmp_path / "hinge.yaml", tmp_path / "run", plugins=[module], overrides=["device=cpu"]
        )
        rec = result.record("train")
        assert rec["metrics"]["iterations"] == 20 and {"loss_D", "loss_G", "R1"} <= set(
            rec["series"]
        )
        assert all(np.isfinite(y) for _, y in rec["series"]["R1"])
        assert result.outputs["train"]["generator"].meta["model"] == "hinge-r1"
        assert len(result.images("train", "samples")) >= 1
        drawn = result.images("draw")
        assert len(drawn) == 16 and drawn.load(0).shape == (32, 32, 3)
    finally:
        for name in [m for m in sys.modules if m == "my_gans" or m.startswith("my_gans.")]:
            sys.modules.pop(name, None)


def test_example_register_style_optimisers(plugin_module, tmp_path):
    host, module = load_example("register_style_optimisers", plugin_module)
    assert host.registry.component("style-optimiser", "histogram", "keras").backend is None
    recipe = hook_sections()["register_style_optimisers"].titled()["histogram.yaml"]
    overrides = ["steps.styled.with.features=random"]  # no VGG19 weights in the tests
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the stylize step needs a backend")
    result = run_recipe(recipe, tmp_path, plugins=[module], overrides=overrides)
    out, ref = result.images("styled"), result.images("styled", "style").load(0)
    assert out.names == result.images("scenes", "day").names
    for i in range(len(out)):
        img = out.load(i)
        for c in range(3):  # the style's histogram, to a level or two
            q = np.linspace(0, 100, 11)
            assert np.abs(np.percentile(img[..., c], q) - np.percentile(ref[..., c], q)).max() <= 2
    assert np.isfinite(result.record("styled")["metrics"]["style_loss_drop"])


def test_example_register_commands(plugin_module, tmp_path):
    import click
    from click.testing import CliRunner

    _, module = load_example("register_commands", plugin_module)
    run_recipe("name: d\nsteps:\n" + SCENES, tmp_path, load_installed=False)
    group = click.Group()
    module.register_commands(cli=group)
    result = CliRunner().invoke(group, ["count-images", str(tmp_path)])
    assert result.exit_code == 0 and result.output == "scenes: 4\n"  # 2 night + 2 day


def test_example_run_finished(plugin_module, tmp_path):
    _, module = load_example("run_finished", plugin_module)
    recipe = "name: d\nsteps:\n" + SCENES
    result = run_recipe(recipe, tmp_path, plugins=[module], load_installed=False)
    with open(result.run_dir / "timings.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "uses", "status", "seconds"]
    assert rows[1][:3] == ["scenes", "synthetic-scenes", "ran"] and float(rows[1][3]) >= 0


PALETTE_STEP = """
import numpy as np
from artforge.api import InputRef, Params, StepType, hookimpl


class P(Params):
    images: InputRef


def run(ctx, p):
    src = ctx.images(p.images)
    means = {n: [float(c) for c in src.load(i).reshape(-1, 3).mean(0)] for i, n in enumerate(src.names)}
    out = ctx.image_writer("images", view="palette", means=means)
    for i, n in enumerate(src.names):
        out.add(src.load(i), name=n)
    return {"images": out.finish()}


@hookimpl
def register_steps(register):
    register(StepType("palette-copy", P, run, ("images",)))
"""


def test_example_register_gallery_views(plugin_module, tmp_path):
    _, module = load_example("register_gallery_views", plugin_module)
    step = plugin_module(PALETTE_STEP, "docs_palette_step")
    recipe = (
        "name: d\nsteps:\n"
        + SCENES
        + "  - {id: p, uses: palette-copy, with: {images: '${scenes.day}'}}\n"
    )
    result = run_recipe(recipe, tmp_path, plugins=[module, step], load_installed=False)
    html = (result.run_dir / "index.html").read_text()
    section = html[html.index('id="step-p"') :]
    assert '<div class="plugin-view" data-view="palette"><div class="palette">' in section
    assert section.count('class="swatch"') == 2 and 'style="background: rgb(' in section
    assert 'class="grid"' not in section[: section.index("</section>")]  # the view replaced it


def test_every_hook_example_has_a_test_above():
    tested = {n[len("test_example_") :] for n in globals() if n.startswith("test_example_")}
    assert tested == set(HOOK_NAMES)


# -- tables and links ----------------------------------------------------------------------------
def first_column(sec: Section) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", sec.text, re.MULTILINE)


def test_api_table_lists_exactly_the_public_api():
    import artforge.api as api

    assert sorted(first_column(section("The plugin API"))) == sorted(api.__all__)


def test_step_context_table_covers_the_context():
    documented = {re.match(r"\w+", c).group(0) for c in first_column(section("The step context"))}
    fields = {f.name for f in dataclasses.fields(StepContext)}
    methods = {n for n, v in vars(StepContext).items() if callable(v) and not n.startswith("_")}
    assert fields | methods <= documented, f"undocumented: {(fields | methods) - documented}"
    assert documented <= fields | methods, f"documented but absent: {documented - fields - methods}"


def slug(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def test_internal_links_point_at_headings():
    text = DOCS.read_text()
    anchors = {slug(s.title) for s in SECTIONS} | {
        slug(c.title) for s in SECTIONS for c in s.children
    }
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links and not [a for a in links if a not in anchors]
    for rel in re.findall(r"\]\((\.\./[^)#]+)\)", text):
        assert (DOCS.parent / rel).exists(), rel


# -- the tutorial and the testing section run -----------------------------------------------------
def tutorial_files() -> dict[str, str]:
    files = section("Tutorial").titled()
    assert set(files) == {
        "duotone.py",
        "duotone.yaml",
        "artforge-duotone/pyproject.toml",
        "artforge-duotone/tests/test_duotone.py",
    }
    return files


def test_tutorial_plugin_file_and_recipe_run(tmp_path, monkeypatch, capsys):
    files = tutorial_files()
    for name in ("duotone.py", "duotone.yaml"):
        (tmp_path / name).write_text(files[name])
    result = run_recipe(tmp_path / "duotone.yaml", tmp_path / "run", load_installed=False)
    assert result.status == {"scenes": "ran", "tinted": "ran", "sheet": "ran"}
    assert result.record("tinted")["plugin"] == "recipe_plugin_duotone"
    tinted = result.images("tinted").load(0).reshape(-1, 3)
    dark, light = np.array([25, 25, 112]), np.array([255, 210, 127])  # midnightblue, #ffd27f
    t = (tinted - dark) @ (light - dark) / ((light - dark) @ (light - dark))
    assert np.abs(dark + t[:, None] * (light - dark) - tinted).max() <= 1  # on the gradient
    sys.modules.pop("artforge_recipe_plugins.duotone", None)

    # the console example shows what artforge really prints
    (console,) = [c for info, c in section("Tutorial").blocks if info == "console"]
    command, *expected = console.strip().splitlines()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTFORGE_PLUGINS", "")
    monkeypatch.setattr(cli, "_HOST", [])
    args = shlex.split(command.removeprefix("$ "))
    assert args[0] == "artforge" and cli.main(args[1:]) == 2
    assert capsys.readouterr().err.splitlines() == expected
    sys.modules.pop("artforge_recipe_plugins.duotone", None)


def test_tutorial_package_and_its_tests(tmp_path):
    files = tutorial_files()
    pkg = tmp_path / "artforge-duotone"
    (pkg / "artforge_duotone").mkdir(parents=True)
    (pkg / "tests").mkdir()
    (pkg / "artforge_duotone" / "__init__.py").write_text(files["duotone.py"])  # "move it"
    for name in ("artforge-duotone/pyproject.toml", "artforge-duotone/tests/test_duotone.py"):
        (tmp_path / name).write_text(files[name])
    meta = tomllib.loads(files["artforge-duotone/pyproject.toml"])
    assert meta["project"]["entry-points"]["artforge"] == {"duotone": "artforge_duotone"}
    assert meta["tool"]["setuptools"]["packages"] == ["artforge_duotone"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=pkg,
        env={**os.environ, "PYTHONPATH": str(pkg), "ARTFORGE_PLUGINS": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 passed" in out.stdout


def test_testing_section_example_runs(plugin_module, tmp_path):
    module = plugin_module(section("Testing a plugin").python(), "docs_testing_example")
    tests = [v for n, v in vars(module).items() if n.startswith("test_")]
    assert len(tests) == 1
    tests[0](tmp_path)
