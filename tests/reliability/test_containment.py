"""Issue 9, item 6: containment. Nothing a recipe, an image set or a plugin names can make
artforge write outside the run directory (``../``, absolute paths, symbolic links); the gallery
escapes every string; YAML is never loaded with a loader that can build Python objects; and
checkpoints are never unpickled in a way that can run code."""

from __future__ import annotations

import ast
import io
import json
import pickle
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artforge.context import StepContext
from artforge.errors import RecipeError, StepError
from artforge.ownership import claim

from .conftest import ROOT, snapshot
from .plugin import HOSTILE

SCENES = """name: contained
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 2, holdout: 0, size: 32}
"""


# -- file names from image sets ----------------------------------------------------------------
HOSTILE_NAMES = [
    "..png",
    "...png",
    ".hidden.png",
    "-rf.png",
    "a b.png",
    "a_b.png",
    "a%2F..%2Fb.png",
    "<script>alert(1)<script>.png",
    "x\ny.png",
    "日本語の写真.png",
    "con.png",
    "$(touch pwned).png",
    ("n" * 240) + ".png",
    "..\\..\\windows.png",
]


def test_image_file_names_stay_inside_the_step_folder(tmp_path, fresh_cli, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, name in enumerate(HOSTILE_NAMES):
        Image.new("RGB", (4, 4), (i, 0, 0)).save(photos / name, "PNG")
    (tmp_path / "r.yaml").write_text(
        "name: names\nsteps:\n  - id: load\n    uses: images\n    with: {path: photos}\n"
    )
    before = snapshot(tmp_path)
    assert (
        fresh_cli(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "out"), "-q"]) == 0
    ), capsys.readouterr().err
    folder = tmp_path / "out/steps/load/images"
    written = sorted(p.name for p in folder.iterdir())
    assert len(written) == len(HOSTILE_NAMES)  # none lost to a collision
    for name in written:
        assert name.endswith(".png") and not name.startswith((".", "-")) and len(name) <= 104
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    after = snapshot(tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert all(k == "out" or k.startswith("out/") for k in changed), changed
    assert not (tmp_path / "pwned").exists()


def context(tmp_path) -> StepContext:
    step = tmp_path / "run/.staging/s"
    step.mkdir(parents=True)
    return StepContext(
        step_id="s",
        uses="x",
        seed=0,
        backend=None,
        device="cpu",
        dir=step,
        work_dir=tmp_path / "run/.work/s",
        run_dir=tmp_path / "run",
        recipe_dir=tmp_path,
        resolve=lambda ref: None,
        quiet=True,
    )


@pytest.mark.parametrize(
    "parts", [("..", "x"), ("../../x",), ("/etc/passwd",), ("a", "..", "..", "b")]
)
def test_a_step_cannot_name_a_path_outside_its_folder(tmp_path, parts):
    with pytest.raises(StepError, match="refusing to write outside its folder"):
        context(tmp_path).path(*parts)


@pytest.mark.parametrize("filename", ["../evil.bin", "/tmp/evil.bin", "a/b.bin", "..", ""])
def test_artifact_file_names_must_be_plain(tmp_path, filename):
    ctx = context(tmp_path)
    with pytest.raises(StepError, match="plain file name"):
        ctx.model_artifact("model", filename)
    with pytest.raises(StepError, match="plain file name"):
        ctx.file_artifact("metrics", filename)


def test_output_and_image_names_are_sanitised(tmp_path):
    ctx = context(tmp_path)
    writer = ctx.image_writer("../../../escaped")
    name = writer.add(np.zeros((2, 2, 3), np.uint8), name="../../../../etc/passwd")
    assert writer.root.parent == ctx.dir and (writer.root / name).is_file()
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.glob("*passwd*"))


def test_a_plugin_returning_files_outside_its_folder_is_refused(tmp_path, rhost, capsys):
    from artforge.cli import main

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "r.yaml").write_text(
        f"name: out\nsteps:\n  - id: o\n    uses: outside\n    with: {{where: {str(elsewhere)!r}}}\n"
    )
    assert main(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "lies outside its step folder" in err and "Traceback" not in err
    assert not (tmp_path / "run/steps/o").exists()


# -- symbolic links in the run directory --------------------------------------------------------
LINKS = [
    ".staging",
    ".work",
    "steps",
    "steps/scenes",
    "_gallery",
    "index.html",
    "manifest.json",
    ".lock",
    "recipe.yaml",
]


@pytest.mark.parametrize("link", LINKS)
def test_symbolic_links_in_the_run_directory_are_refused(link, tmp_path, fresh_cli, capsys):
    """A link planted in a run directory (``steps -> ~``) would let artforge write or delete
    outside it: the run refuses, and the link's target is untouched."""
    (tmp_path / "r.yaml").write_text(SCENES)
    out = tmp_path / "run"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (outside / "scenes").mkdir()
    (outside / "scenes" / "precious.txt").write_text("keep me too")
    claim(out)  # a run directory of artforge's (a foreign folder is refused before this check)
    path = out / link
    path.parent.mkdir(parents=True, exist_ok=True)
    target = (
        outside / "precious.txt"
        if "." in Path(link).name.lstrip(".") or link == ".lock"
        else outside
    )
    path.symlink_to(target)
    before = snapshot(outside)
    assert fresh_cli(["run", str(tmp_path / "r.yaml"), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        "is a symbolic link" in err
        and "Traceback" not in err
        and len(err.strip().splitlines()) == 2
    )
    assert snapshot(outside) == before
    assert not (out / "steps" / "scenes" / "record.json").exists() or link == "steps/scenes"
    assert (out / ".lock").is_symlink() or not (out / ".lock").exists()  # refused: no lock


def test_a_run_directory_that_is_itself_a_link_is_fine(tmp_path, fresh_cli):
    """The run directory may live elsewhere (``gallery/run -> /data/run``): only links inside
    it are refused."""
    (tmp_path / "r.yaml").write_text(SCENES)
    (tmp_path / "data").mkdir()
    (tmp_path / "run").symlink_to(tmp_path / "data")
    assert fresh_cli(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "-q"]) == 0
    assert (tmp_path / "data/steps/scenes/record.json").is_file()


# -- the gallery escapes every string ----------------------------------------------------------
class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"
        if tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def test_the_gallery_escapes_every_string(tmp_path, rhost, capsys):
    from artforge.cli import main

    q = json.dumps  # YAML accepts JSON strings: any character, quoted
    (tmp_path / "r.yaml").write_text(
        f"name: xss\ndescription: {q(HOSTILE[0] + HOSTILE[1])}\ngallery: {{title: {q(HOSTILE[3])}}}\n"
        f"steps:\n  - id: h\n    uses: hostile\n    description: {q(HOSTILE[5] + HOSTILE[6])}\n"
        f"    with: {{note: {q(HOSTILE[4])}}}\n"
        f"  - id: sheet\n    uses: collage\n    with: {{sets: ['${{h.images}}'], labels: [{q(HOSTILE[2])}], title: {q(HOSTILE[0])}}}\n"
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                str(tmp_path / "r.yaml"),
                "--out",
                str(out),
                "-q",
                "--set",
                f"steps.h.with.note={HOSTILE[1]}",
            ]
        )
        == 0
    ), capsys.readouterr().err
    pages = sorted(out.rglob("*.html"))
    assert pages
    shown = ""
    for page in pages:
        html = page.read_text()
        parsed = Page()
        parsed.feed(html)
        assert html.count("<script") == html.count("</script>"), f"{page}: a string closed a script"
        for script in parsed.scripts:  # data embedded in a script cannot end it early
            assert "</script" not in script.lower() and "<!--" not in script, page
            assert script.strip() not in ('alert("xss1")', "alert('xss4')"), (
                f"{page}: injected script"
            )
        for tag, attrs in parsed.tags:
            assert not (tag == "img" and ("src", "x") in attrs), f"{page}: injected <img>"
            assert tag != "svg" or all(not k.startswith("on") for k, _ in attrs), page
            for key, value in attrs:
                assert not (key.startswith("on") and value and "alert" in value), (
                    f"{page}: {key}={value}"
                )
                assert not (
                    key in ("href", "src")
                    and value
                    and value.strip().lower().startswith("javascript:")
                ), page
        shown += "".join(parsed.text)
    # the strings are shown as text, not dropped, and no template evaluated them
    for text in (HOSTILE[0], HOSTILE[1], HOSTILE[3], HOSTILE[4], HOSTILE[5], HOSTILE[6]):
        assert text in shown, text


# -- YAML: no loader that builds objects ----------------------------------------------------------
UNSAFE_YAML_NAMES = {
    "load",
    "load_all",
    "unsafe_load",
    "unsafe_load_all",
    "full_load",
    "full_load_all",
    "Loader",
    "FullLoader",
    "UnsafeLoader",
    "CLoader",
    "CFullLoader",
    "CUnsafeLoader",
    "UnsafeConstructor",
    "FullConstructor",
    "Constructor",
}


def python_files():
    for folder in ("artforge", "plugins"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_code_uses_an_unsafe_yaml_loader():
    offenders = []
    for path in python_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "yaml"
                and node.attr in UNSAFE_YAML_NAMES
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: yaml.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("yaml"):
                offenders += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: from yaml import {a.name}"
                    for a in node.names
                    if a.name in UNSAFE_YAML_NAMES
                ]
    assert not offenders, offenders


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("where", ["name", "param", "key", "list", "nested"])
def test_python_tags_never_run(tmp_path, monkeypatch, fast, where):
    from artforge import yamlsrc
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe

    if not fast:
        monkeypatch.setattr(yamlsrc, "_FastLoader", None)
    marker = tmp_path / "pwned"
    evil = f"!!python/object/apply:builtins.exec [\"open({str(marker)!r}, 'w').close()\"]"
    text = {
        "name": f"name: {evil}\nsteps: []\n",
        "param": SCENES.replace("count: 2", f"count: {evil}"),
        "key": f"? {evil}\n: 1\n" + SCENES,
        "list": SCENES.replace("holdout: 0", f"holdout: [{evil}]"),
        "nested": "vars: {a: {b: [{c: " + evil + "}]}}\n" + SCENES,
    }[where]
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(RecipeError, match="unsupported YAML tag|a key must be a plain string"):
        load_recipe(tmp_path / "r.yaml", PluginHost(load_installed=False))
    assert not marker.exists()


def test_the_loaders_cannot_build_python_objects():
    import yaml

    from artforge import yamlsrc

    for cls in filter(None, (yamlsrc._Loader, yamlsrc._FastLoader)):
        assert issubclass(cls, (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        assert not issubclass(cls, (yaml.FullLoader, yaml.UnsafeLoader))
        tags = list(cls.yaml_constructors) + list(cls.yaml_multi_constructors)
        assert not [t for t in tags if t and "python" in t], tags


# -- checkpoints: never unpickle code -------------------------------------------------------------
def test_no_code_unpickles_without_restriction():
    """torch.load only with weights_only=True; no pickle.load(s), no np.load(allow_pickle=True),
    no joblib/dill; the one custom Unpickler restricts find_class."""
    offenders = []
    for path in python_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                kwargs = {k.arg: k.value for k in node.keywords}
                if name.endswith("torch.load") or name == "load" and "weights_only" in kwargs:
                    ok = (
                        isinstance(kwargs.get("weights_only"), ast.Constant)
                        and kwargs["weights_only"].value is True
                    )
                    if not ok:
                        offenders.append(f"{where}: {name} without weights_only=True")
                if name in (
                    "pickle.load",
                    "pickle.loads",
                    "cPickle.load",
                    "dill.load",
                    "joblib.load",
                    "torch.jit.load",
                    "pd.read_pickle",
                    "pandas.read_pickle",
                ):
                    offenders.append(f"{where}: {name}")
                if name.endswith("np.load") or name.endswith("numpy.load"):
                    ap = kwargs.get("allow_pickle")
                    if ap is not None and not (isinstance(ap, ast.Constant) and ap.value is False):
                        offenders.append(f"{where}: {name}(allow_pickle=...)")
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if "pickle.Unpickler" in bases:
                    methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                    if "find_class" not in methods:
                        offenders.append(
                            f"{where}: {node.name} subclasses pickle.Unpickler without find_class"
                        )
    assert not offenders, offenders


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def evil_checkpoint(path: Path, marker: Path) -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"epoch": 1, "nets": _Evil(marker)}, buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(pickle.UnpicklingError):  # proof that the file is hostile
        torch.load(io.BytesIO(buf.getvalue()), weights_only=True)


def test_a_planted_checkpoint_is_refused_not_run(tmp_path, fresh_cli, capsys):
    """A checkpoint in .work/<step>/ that would run code when unpickled: the training step
    refuses it with a clear message, and the code never runs."""
    pytest.importorskip("torch")
    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe
    from artforge.runner import Runner

    if "train-gan" not in PluginHost().registry.step_names():
        pytest.skip("train-gan is not installed")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        SCENES
        + "  - id: train\n    uses: train-gan\n    with: {source: '${scenes.night}', target: '${scenes.day}', image_size: 16, n_layers_d: 2, epochs: 1, ngf: 4, ndf: 4}\n"
    )
    out = tmp_path / "run"
    host = PluginHost()
    runner = Runner(load_recipe(recipe, host), host, out, quiet=True)
    keys = {s.id: k for s, k, _ in runner.plan()}
    claim(out)  # the run directory of an earlier run
    work = out / ".work" / "train"
    work.mkdir(parents=True)
    (work / "KEY").write_text(keys["train"])  # so the runner keeps it for a resume
    marker = tmp_path / "pwned"
    evil_checkpoint(work / "checkpoint.pt", marker)
    assert fresh_cli(["run", str(recipe), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and "checkpoint.pt" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (out / "steps/train").exists()


def test_a_hostile_weight_file_is_refused_not_run(tmp_path, fresh_cli, capsys):
    """super-resolve's ``checkpoint:`` takes safetensors: a pickle that would run code is
    refused and never unpickled."""
    pytest.importorskip("torch")
    from artforge.plugins import PluginHost

    if "super-resolve" not in PluginHost().registry.step_names():
        pytest.skip("super-resolve is not installed")
    marker = tmp_path / "pwned"
    for name in ("model.pt", "model.safetensors"):
        evil_checkpoint(tmp_path / name, marker)
        (tmp_path / "r.yaml").write_text(
            SCENES
            + f"  - id: up\n    uses: super-resolve\n    with: {{images: '${{scenes.night}}', method: espcn, checkpoint: {name}}}\n"
        )
        assert (
            fresh_cli(["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "-q"]) == 2
        )
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err, err
        assert not marker.exists()


def test_the_restricted_unpickler_of_the_keras_backend_refuses_code(tmp_path):
    pytest.importorskip("torch")
    try:
        from artforge_keras.nets.features import read_torch_file
    except ImportError as exc:  # it imports keras, absent where TensorFlow is not installed
        pytest.skip(f"artforge_keras.nets.features cannot be imported here: {exc}")
    marker = tmp_path / "pwned"
    evil_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(Exception, match=r"refusing to load (__builtin__|builtins)\.exec"):
        read_torch_file(tmp_path / "evil.pt")
    assert not marker.exists()
