"""Issue 14, items 1 and 2 and the hostile folder: artforge writes only into folders it owns
(a marker written first), cleans up only its own names there, and never reads, writes or
deletes through a symbolic link. Every command pointed at a folder of a user's files leaves
it byte-identical."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import threading
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from artforge.ownership import MARKER, NotARunDirectory, check_claim

from .conftest import snapshot

SCENES = """name: owned
steps:
  - id: scenes
    uses: synthetic-scenes
    with: {count: 2, holdout: 0, size: 32}
"""
SECRET = b"outside: never read, written or deleted"


def one_message(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), err
    return lines


@pytest.fixture
def recipe(tmp_path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(SCENES)
    return path


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder of the user's that links point to: it must never change."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(SECRET)
    Image.new("RGB", (8, 8), (250, 1, 2)).save(folder / "secret.png")
    secret_record = {"status": "ok", "uses": SECRET.decode(), "params": {"note": SECRET.decode()}}
    (folder / "record.json").write_text(json.dumps(secret_record))
    return folder


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One finished run of SCENES, made once; tests start from copies of it."""
    import sys

    from artforge import cli

    root = tmp_path_factory.mktemp("template")
    (root / "r.yaml").write_text(SCENES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "_HOST", [])
        mp.setattr(sys, "dont_write_bytecode", True)
        assert cli.main(["run", str(root / "r.yaml"), "--out", str(root / "run"), "-q"]) == 0
    return root / "run"


@pytest.fixture
def finished(template):
    """Copy the finished run to ``out`` (a run directory artforge made)."""

    def copy(out: Path) -> Path:
        shutil.copytree(template, out, symlinks=True)
        return out

    return copy


def run(cli, capsys, recipe, out, *args) -> tuple[int, str]:
    code = cli(["run", str(recipe), "--out", str(out), "-q", *args])
    return code, capsys.readouterr().err


# -- 1. a run directory is owned --------------------------------------------------------------
def test_a_new_run_directory_is_marked_first(tmp_path, recipe, fresh_cli, capsys, monkeypatch):
    from artforge.runner import Runner

    seen = []
    lock = Runner._lock

    def spy(self):  # the lock is the first thing written after the marker
        seen.append(sorted(os.listdir(self.run_dir)))
        return lock(self)

    monkeypatch.setattr(Runner, "_lock", spy)
    out = tmp_path / "new" / "run"
    assert run(fresh_cli, capsys, recipe, out)[0] == 0
    assert seen == [[MARKER]]
    marker = json.loads((out / MARKER).read_text())
    assert len(marker["run_id"]) == 32
    assert json.loads((out / "manifest.json").read_text())["run_id"] == marker["run_id"]
    assert run(fresh_cli, capsys, recipe, out)[0] == 0  # its own folder: welcome back
    assert json.loads((out / MARKER).read_text()) == marker


FOREIGN = {
    "a file": {"notes.txt": "my notes"},
    "a hidden file": {".bashrc": "alias ll='ls -l'"},
    "an empty folder": {"photos/": None},
    "a lock-alike": {".lock": "mine"},
    "a foreign manifest": {"manifest.json": '{"name": "my-app", "steps": []}'},
    "a steps folder": {"steps/": None, "steps/plan.md": "my plan"},
}


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_a_folder_that_is_not_a_run_directory_is_refused(kind, tmp_path, recipe, fresh_cli, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    for name, text in FOREIGN[kind].items():
        if text is None:
            (out / name).mkdir()
        else:
            (out / name).write_text(text)
    before = snapshot(out)
    code, err = run(fresh_cli, capsys, recipe, out)
    lines = one_message(err)
    assert code == 2 and f"refusing to run into {out}: it is not empty" in lines[0]
    first = sorted(FOREIGN[kind])[0].rstrip("/")
    assert first in lines[0] and "--out" in lines[1]
    assert snapshot(out) == before  # nothing left behind: no marker, no .lock
    # --dry-run writes nothing either
    assert fresh_cli(["run", str(recipe), "--out", str(out), "--dry-run"]) == 0
    assert snapshot(out) == before


def test_home_root_and_folders_of_runs_are_never_run_directories(
    tmp_path, recipe, fresh_cli, capsys, monkeypatch
):
    home = tmp_path / "users" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    (home / MARKER).write_text("{}")  # even marked
    code, err = run(fresh_cli, capsys, recipe, home)
    assert code == 2 and "it is your home folder" in one_message(err)[0]
    code, err = run(fresh_cli, capsys, recipe, tmp_path / "users")
    assert code == 2 and "it holds your home folder" in one_message(err)[0]
    with pytest.raises(NotARunDirectory, match="root of the file system"):
        check_claim(Path("/"))
    runs = tmp_path / "gallery"
    assert run(fresh_cli, capsys, recipe, runs / "a")[0] == 0
    (runs / MARKER).write_text("{}")
    before = snapshot(runs)
    code, err = run(fresh_cli, capsys, recipe, runs)
    assert code == 2 and "it holds other runs (a/ is one)" in one_message(err)[0]
    assert snapshot(runs) == before
    assert not list(home.iterdir())[1:]  # only the marker we planted


def test_an_earlier_versions_run_directory_is_adopted(
    tmp_path, recipe, fresh_cli, capsys, finished
):
    out = tmp_path / "old"
    finished(out)
    (out / MARKER).unlink()  # as an artforge before the marker left it
    (out / "my notes.txt").write_text("written by the user")
    assert fresh_cli(["run", str(recipe), "--out", str(out)]) == 0
    assert "scenes (synthetic-scenes) reused" in capsys.readouterr().out
    assert json.loads((out / MARKER).read_text())["run_id"]
    assert (out / "my notes.txt").read_text() == "written by the user"


def test_clean_up_removes_only_artforge_names_in_artforge_places(
    tmp_path, recipe, fresh_cli, capsys, finished
):
    """Leftovers of a killed run are swept; look-alikes in folders artforge did not make (a
    plugin's, the user's) are not touched, however artforge-like their names."""
    out = tmp_path / "run"
    finished(out)
    ours = [
        out / ".manifest.json.a1b2c3d4.tmp",
        out / ".work/scenes/.checkpoint.pt.abcd_123.tmp",
        out / "_gallery/.cache.json.zzzzzzzz.tmp",
        out / "steps/.scenes.old-4242/record.json",
    ]
    for path in ours:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half-written")
    theirs = tmp_path / "run/mine"
    for rel in (".notes.a1b2c3d4.tmp", ".photos.old-12/a.txt", "deep/.x.abcdefgh.tmp"):
        (theirs / rel).parent.mkdir(parents=True, exist_ok=True)
        (theirs / rel).write_text("the user's")
    before = snapshot(theirs)
    assert run(fresh_cli, capsys, recipe, out)[0] == 0
    assert [p for p in ours if p.exists()] == []
    assert not (out / "steps/.scenes.old-4242").exists()
    assert snapshot(theirs) == before


# -- 2. links never lead out -------------------------------------------------------------------
def test_a_link_refused_by_run_leaves_no_lock(
    tmp_path, recipe, fresh_cli, capsys, outside, finished
):
    out = tmp_path / "run"
    finished(out)
    (out / ".lock").unlink()
    (out / "notes").symlink_to(outside)
    code, err = run(fresh_cli, capsys, recipe, out)
    assert code == 2 and "is a symbolic link" in one_message(err)[0]
    assert not (out / ".lock").exists()


def _planted(out: Path, outside: Path, where: str) -> Path:
    record = json.loads((out / "steps/scenes/record.json").read_text())
    first = record["outputs"]["night"]["files"][0]
    targets = {
        "image": (f"steps/scenes/night/{first}", outside / "secret.png"),
        "record": ("steps/scenes/record.json", outside / "record.json"),
        "recipe": ("recipe.yaml", outside / "secret.txt"),
        "gallery folder": ("_gallery", outside),
        "cache": ("_gallery/cache.json", outside / "record.json"),
        "step folder": ("steps/scenes/night", outside / "night"),
    }
    (outside / "night").mkdir(exist_ok=True)
    for name in record["outputs"]["night"]["files"]:  # the same names, other pictures
        Image.new("RGB", (8, 8), (250, 1, 2)).save(outside / "night" / name)
    rel, target = targets[where]
    link = out / rel
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    else:
        link.unlink()
    link.symlink_to(target)
    return link


WHERE = ["image", "record", "recipe", "gallery folder", "cache", "step folder"]


@pytest.mark.parametrize("where", WHERE)
def test_gallery_build_refuses_a_link(
    where, tmp_path, recipe, fresh_cli, capsys, outside, finished
):
    out = tmp_path / "run"
    finished(out)
    link = _planted(out, outside, where)
    before, page = snapshot(outside), (out / "index.html").read_bytes()
    assert fresh_cli(["gallery", "build", str(out)]) == 2
    line = one_message(capsys.readouterr().err)[0]
    assert f"{link} is a symbolic link" in line
    assert snapshot(outside) == before and (out / "index.html").read_bytes() == page


def red(im: Image.Image) -> bool:
    r, g, b = im.convert("RGB").getpixel((0, 0))
    return r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("where", ["image", "record", "recipe", "step folder"])
def test_every_gallery_reader_skips_a_link(
    where, tmp_path, recipe, fresh_cli, capsys, outside, monkeypatch, finished
):
    """Defence in depth: with the up-front refusal switched off (a link planted between the
    check and the read), pages, thumbnails, zips and caches still read nothing outside."""
    from artforge import safefs
    from artforge.gallery import build

    out = tmp_path / "run"
    finished(out)
    _planted(out, outside, where)
    before = snapshot(outside)
    monkeypatch.setattr(build.safefs, "refuse_links", lambda *a, **k: None)
    assert safefs.find_link(out) is not None
    page = build.build_gallery(out).read_text()
    assert SECRET.decode() not in page
    assert snapshot(outside) == before
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert SECRET not in data, path
            if path.suffix == ".zip":
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    for name in zf.namelist():
                        assert SECRET not in zf.read(name), name
                        with Image.open(io.BytesIO(zf.read(name))) as im:
                            assert not red(im), name
    thumbs = list((out / "_gallery/thumbs").rglob("*.webp"))
    assert thumbs or where == "record"  # the rest of the run is still shown
    for path in thumbs:
        with Image.open(path) as im:
            assert not red(im), path


@pytest.mark.parametrize("where", ["gallery folder", "cache"])
def test_a_gallery_file_linked_out_is_never_written(
    where, tmp_path, recipe, fresh_cli, capsys, outside, monkeypatch, finished
):
    from artforge.gallery import build

    out = tmp_path / "run"
    finished(out)
    link = _planted(out, outside, where)
    before = snapshot(outside)
    monkeypatch.setattr(build.safefs, "refuse_links", lambda *a, **k: None)
    assert fresh_cli(["gallery", "build", str(out)]) == 2
    assert f"{link} is a symbolic link" in one_message(capsys.readouterr().err)[0]
    assert snapshot(outside) == before and link.is_symlink()


@pytest.mark.parametrize("linked", ["steps/scenes", "steps/scenes/night"])
def test_a_cached_step_behind_a_link_is_not_reused(
    linked, tmp_path, recipe, fresh_cli, capsys, finished
):
    """``steps/scenes -> elsewhere`` holding a matching record, or only its images linked: the
    plan runs the step again rather than pass another folder's files off as this run's."""
    import shutil

    from artforge.plugins import PluginHost
    from artforge.recipe import load_recipe
    from artforge.runner import Runner

    out = tmp_path / "run"
    finished(out)
    host = PluginHost()
    plan = Runner(load_recipe(recipe, host), host, out, quiet=True).plan()
    assert [a for _, _, a in plan] == ["reuse"]
    shutil.move(out / linked, tmp_path / "elsewhere")
    (out / linked).symlink_to(tmp_path / "elsewhere")
    plan = Runner(load_recipe(recipe, host), host, out, quiet=True).plan()
    assert [a for _, _, a in plan] == ["run"]


# -- acceptance: the hostile folder ----------------------------------------------------------
def hostile_folder(root: Path, outside: Path) -> Path:
    """A user's folder with names that look like artforge's and links that lead out."""
    user = root / "user"
    files = {
        "notes.txt": b"my notes",
        "photos/cat.png": None,
        ".lock": b"my lock file",
        ".artforge-run.bak": b"not a marker",
        ".staging/draft.txt": b"a draft",
        ".work/job/.checkpoint.pt.abcdefgh.tmp": b"looks like a temporary",
        ".manifest.json.a1b2c3d4.tmp": b"looks like a temporary",
        "steps/.scenes.old-123/keep.txt": b"looks set aside",
        "_gallery/thumbs/x.webp": b"not a thumbnail",
        "_gallery/cache.json": b'{"version": 2}',
        "index.html": b"<p>my home page</p>",
        "manifest.json": b'{"name": "my-app", "steps": ["build"]}',
        "recipe.yaml": b"name: not-a-recipe\n",
    }
    for rel, data in files.items():
        path = user / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            Image.new("RGB", (4, 4), (1, 2, 3)).save(path)
        else:
            path.write_bytes(data)
    (user / "secret_link").symlink_to(outside / "secret.txt")
    (user / "linked_dir").symlink_to(outside)
    (user / "photos/dog.png").symlink_to(outside / "secret.png")
    (user / "_gallery/thumbs/y.webp").symlink_to(outside / "secret.png")
    return user


def test_the_hostile_folder_stays_byte_identical(tmp_path, recipe, fresh_cli, capsys, outside):
    from artforge.gallery.serve import make_server

    user = hostile_folder(tmp_path, outside)
    before = snapshot(tmp_path)
    for args in (
        ["run", str(recipe), "--out", str(user), "-q"],
        ["run", str(recipe), "--out", str(user / "photos"), "-q"],
        ["run", str(recipe), "--out", str(user / "_gallery"), "-q"],
        ["run", str(recipe), "--out", str(user / "steps"), "-q"],
        ["gallery", "build", str(user)],
        ["gallery", "build", str(user / "photos")],
        ["gallery", "build", str(user / "steps")],
    ):
        assert fresh_cli(args) == 2, args
        one_message(capsys.readouterr().err)
        assert snapshot(tmp_path) == before, args
    with make_server(user, 0) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            for method, path in [
                ("GET", "/"),
                ("GET", "/notes.txt"),
                ("GET", "/photos/"),
                ("GET", "/photos/dog.png"),
                ("GET", "/secret_link"),
                ("GET", "/linked_dir/secret.txt"),
                ("GET", "/.lock"),
                ("GET", "/.staging/draft.txt"),
                ("GET", "/_gallery/thumbs/y.webp"),
                ("GET", "/%2e%2e/outside/secret.txt"),
                ("PUT", "/notes.txt"),
                ("DELETE", "/notes.txt"),
                ("POST", "/upload"),
            ]:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request(method, path, body=b"overwrite" if method != "GET" else None)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                assert SECRET not in body, (method, path)
                if path in ("/notes.txt",) and method == "GET":
                    assert (resp.status, body) == (200, b"my notes")
                elif path.startswith(("/secret", "/linked", "/.", "/%2e", "/_gallery/thumbs/y")):
                    assert resp.status == 404, (method, path)
                elif method != "GET":
                    assert resp.status == 501, (method, path)
        finally:
            server.shutdown()
            thread.join(5)
    assert snapshot(tmp_path) == before
