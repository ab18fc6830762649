"""The ``artforge`` command line. Imports no deep-learning framework at start-up.

Documentation: README.md (recipes, steps, plugins, gallery).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import ArtforgeError, ResourceError

_DEBUG = {"on": False}
# what Ctrl-C prints (the README quotes it; tests/reliability/test_named_errors.py checks both)
INTERRUPTED = "interrupted: finished steps are kept; run the same command again to resume"


_HOST: list = []


def _host():
    """The plugin host of this process (built once)."""
    if not _HOST:
        from .plugins import PluginHost

        _HOST.append(PluginHost())
        for text in _HOST[0].warnings:  # ARTFORGE_PLUGINS naming plugins that are not installed
            click.echo(f"warning: {text}", err=True)
    return _HOST[0]


def _load(recipe: str, overrides: tuple[str, ...], host=None):
    from .recipe import load_recipe

    host = host or _host()
    return host, load_recipe(recipe, host, overrides)


def _warn_failures(host) -> None:
    for f in host.failures.values():
        click.echo(f"warning: plugin '{f.name}' failed to load and is skipped: {f.error}", err=True)


@click.group(
    help="artforge: generative art from YAML recipes (GANs, style transfer, super-resolution) "
    "with an offline HTML gallery.\n\nDocs: README.md; `artforge steps` lists every step type.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="artforge")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.option("--trace-plugins", is_flag=True, help="Print which plugin answers which hook.")
def cli(debug: bool, trace_plugins: bool) -> None:
    _DEBUG["on"] = debug
    if trace_plugins:
        os.environ["ARTFORGE_TRACE_PLUGINS"] = "1"


SET_HELP = "Override a recipe value, e.g. --set steps.train.with.epochs=5 or --set backend=keras."


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Run directory (default gallery/<recipe name>)."
)
@click.option(
    "--force",
    multiple=True,
    metavar="STEP",
    help="Redo this step (and what depends on it) even if cached.",
)
@click.option(
    "--dry-run", is_flag=True, help="Validate and show which steps would run or be reused."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option(
    "--verify",
    is_flag=True,
    help="Hash every file of a step before reusing it (default: hash only files whose size "
    "or modification time changed).",
)
@click.option("--open", "open_", is_flag=True, help="Open the gallery in a browser when done.")
@click.option(
    "--nproc",
    type=click.IntRange(1, 1024),
    metavar="N",
    help="Data-parallel training in N processes on this machine (one per GPU; gloo on the "
    "CPU): runs the same command under torchrun. Needs torch.",
)
def run(recipe, overrides, out, force, dry_run, quiet, verify, open_, nproc):
    """Run RECIPE (a YAML file) and write its gallery.

    Under torchrun (`torchrun --nproc_per_node=N -m artforge run RECIPE`) or with --nproc N,
    train-gan runs data-parallel in N processes; rank 0 runs every other step and alone writes
    the run directory.
    """
    from .context import Launch
    from .runner import Runner, default_run_dir

    launch = Launch.from_env()
    host, rec = _load(recipe, overrides)
    if launch.is_main:
        _warn_failures(host)
    if nproc and nproc > 1 and not dry_run:
        if launch.distributed:
            raise ArtforgeError(
                f"--nproc {nproc}: this command already runs under a launcher "
                f"(WORLD_SIZE={launch.world_size})",
                hint="drop --nproc when you start artforge with torchrun yourself",
            )
        code = _launch(nproc, recipe, overrides, out, force, quiet, verify)
        page = (Path(out) if out else default_run_dir(rec)) / "index.html"
        if code == 0 and open_ and page.is_file():
            import webbrowser

            webbrowser.open(page.resolve().as_uri())
        raise _Relaunched(code)
    runner = Runner(
        rec,
        host,
        Path(out) if out else None,
        force=force,
        quiet=quiet or not launch.is_main,
        log=None if launch.is_main else (lambda msg: None),
        command=["artforge", *sys.argv[1:]] if sys.argv and "artforge" in sys.argv[0] else None,
        launch=launch,
        verify=verify,
    )
    if dry_run:
        if launch.is_main:
            for step, key, action in runner.plan():
                why = f" ({runner.damaged[step.id]})" if step.id in runner.damaged else ""
                click.echo(f"{action:6s} {step.id} ({step.type.name}) key {key}{why}")
        return
    summary = runner.run()
    if not launch.is_main:
        return
    ran = sum(o.status == "ran" for o in summary.outcomes)
    reused = sum(o.status == "reused" for o in summary.outcomes)
    click.echo(f"done: {ran} step(s) ran, {reused} reused; run directory {summary.run_dir}")
    if summary.gallery:
        click.echo(f"gallery: {summary.gallery}")
        if open_:
            import webbrowser

            webbrowser.open(summary.gallery.resolve().as_uri())


# ``python -m torch.distributed.run ARGS`` that reports failed ranks in one line instead of
# the launcher's traceback (every rank has printed its own error message already)
TORCHRUN = """\
import sys
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main
try:
    main(sys.argv[1:])
except ChildFailedError as exc:
    ranks = sorted(exc.failures.items())
    codes = ", ".join(f"rank {r} exit status {f.exitcode}" for r, f in ranks)
    print(f"torchrun: the launch failed ({codes})", file=sys.stderr)
    sys.exit(1)
"""


def launch_command(
    nproc: int, recipe: str, overrides=(), out=None, force=(), quiet=False, verify=False
) -> list[str]:
    """The torchrun command line of ``artforge run --nproc N``: the same run without
    ``--nproc``, as ``python -m torch.distributed.run --standalone --nproc_per_node=N -m
    artforge run RECIPE ...`` (through :data:`TORCHRUN`)."""
    args = [sys.executable, "-c", TORCHRUN, "--standalone"]
    args += [f"--nproc_per_node={nproc}", "-m", "artforge"]
    if _DEBUG["on"]:
        args.append("--debug")
    args += ["run", str(recipe)]
    for item in overrides:
        args += ["--set", item]
    if out:
        args += ["--out", str(out)]
    for step in force:
        args += ["--force", step]
    if quiet:
        args.append("-q")
    if verify:
        args.append("--verify")
    return args


class _Relaunched(Exception):
    """``run --nproc``: the exit status of the launched run, for :func:`main` to return."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _launch(nproc: int, recipe: str, overrides, out, force, quiet, verify=False) -> int:
    """Run the same command in ``nproc`` processes under torchrun; return rank 0's exit
    status (the launcher's when rank 0 left none: it was stopped because another rank failed).
    Imports no framework: torchrun runs in a child process."""
    import importlib.util
    import subprocess
    import tempfile
    import uuid

    if importlib.util.find_spec("torch") is None:
        from .errors import BackendUnavailable

        raise BackendUnavailable(
            f"--nproc {nproc} launches torchrun, which comes with torch; torch is not installed",
            hint='install it with: pip install -e ".[torch]"',
        )
    env = dict(os.environ)
    env["ARTFORGE_LAUNCH_ID"] = uuid.uuid4().hex  # tells this launch's manifest from old ones
    if "OMP_NUM_THREADS" not in env:  # share the cores instead of oversubscribing them
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        env["OMP_NUM_THREADS"] = str(max(1, cores // nproc))
    with tempfile.TemporaryDirectory(prefix="artforge-launch-") as tmp:
        status_file = Path(tmp) / "exit-status"
        env["ARTFORGE_EXIT_FILE"] = str(status_file)
        command = launch_command(nproc, recipe, overrides, out, force, quiet, verify)
        proc = subprocess.Popen(command, env=env)
        try:
            code = proc.wait()
        except KeyboardInterrupt:  # the launcher and its workers got the same Ctrl-C
            try:
                code = proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                code = proc.wait()
        if code != 0 and status_file.is_file():
            text = status_file.read_text().strip()
            code = int(text) if text.isdigit() and int(text) != 0 else code
    return code


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
def validate(recipe, overrides):
    """Check RECIPE completely without running it."""
    host, rec = _load(recipe, overrides)
    _warn_failures(host)
    click.echo(f"{recipe}: ok ({len(rec.steps)} steps: {', '.join(s.id for s in rec.steps)})")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json):
    """List loaded plugins: name, version, source, hooks and what each registers."""
    host = _host()
    host.registry  # noqa: B018 - fills in what each plugin registers
    rows = []
    for info in host.infos.values():
        rows.append(
            {
                "name": info.name,
                "version": info.version,
                "distribution": info.distribution,
                "source": info.source,
                "module": info.module,
                "hooks": info.hooks,
                "registers": info.registers,
            }
        )
    failures = [
        {"name": f.name, "source": f.source, "error": f.error} for f in host.failures.values()
    ]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "failed": failures}, indent=2))
        return
    for r in rows:
        version = f" {r['version']}" if r["version"] else ""
        click.echo(f"{r['name']}{version}  ({r['source']}: {r['module']})")
        click.echo(f"    hooks: {', '.join(r['hooks']) or '-'}")
        for what, names in r["registers"].items():
            click.echo(f"    {what}: {', '.join(names)}")
    for f in failures:
        click.echo(f"{f['name']}  FAILED TO LOAD: {f['error']}")


@cli.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def steps(name, as_json):
    """List step types, or show NAME's parameters (types, defaults, descriptions)."""
    from .errors import suggest
    from .params import describe_params

    host = _host()
    reg = host.registry
    entries = sorted(reg.steps.values(), key=lambda s: (s.name, s.backend or ""))
    if name:
        entries = [s for s in entries if s.name == name]
        if not entries:
            hint = suggest(name, reg.step_names()) or "run `artforge steps` for the list"
            note = host.restriction_note()
            raise ArtforgeError(
                f"unknown step type '{name}'", hint=f"{hint}; {note}" if note else hint
            )
    if as_json:
        data = [
            {
                "name": s.name,
                "backend": s.backend,
                "plugin": s.plugin,
                "description": s.description,
                "outputs": list(s.outputs),
                "params": describe_params(s.params),
            }
            for s in entries
        ]
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if not name:
        width = max((len(s.name) for s in entries), default=10)
        for s in entries:
            where = s.backend or "any"
            click.echo(f"{s.name:<{width}}  [{where:5s}] {s.description}")
        click.echo("\n`artforge steps NAME` shows a step's parameters.")
        return
    for s in entries:
        click.echo(f"{s.name}  (backend: {s.backend or 'any'}, plugin: {s.plugin})")
        click.echo(f"  {s.description}")
        click.echo(f"  outputs: {', '.join(s.outputs) or '-'}")
        click.echo("  parameters:")
        for row in describe_params(s.params):
            default = "required" if row["required"] else f"default {row['default']!r}"
            click.echo(f"    {row['name']} ({row['type']}, {default})")
            if row["description"]:
                click.echo(f"        {row['description']}")
            if row.get("component"):  # built-in choices or what plugins registered
                from .params import registered_names

                names = registered_names(reg, row["component"], s.backend, row["builtin"])
                click.echo(
                    f"        registered for {s.backend or 'any backend'}: "
                    + (", ".join(names) or "none")
                )
        others = reg.backends_of(s.name)
        if s.backend and len(others) < len(reg.backends):
            missing = sorted(set(reg.backends) - set(others))
            click.echo(f"  not yet available for: {', '.join(missing)}")


@cli.group()
def gallery():
    """Build or serve HTML galleries."""


@gallery.command("build")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--open", "open_", is_flag=True, help="Open the page in a browser.")
def gallery_build(run_dir, open_):
    """Re-render RUN_DIR's gallery from its manifest and records (runs nothing).

    RUN_DIR may also be a folder of runs (e.g. gallery/): every run in it is re-rendered,
    then its index page.
    """
    from .gallery import build_gallery, build_index
    from .gallery.integrity import RunUnreadable

    root = Path(run_dir)
    if (root / "manifest.json").is_file():
        page = build_gallery(root)
    else:
        runs = sorted(  # a linked folder is not entered: it may lead anywhere
            p for p in root.iterdir() if not p.is_symlink() and (p / "manifest.json").is_file()
        )
        if not runs:
            raise ArtforgeError(
                f"{root} holds no artforge run (no manifest.json in it or its sub-folders)",
                hint="give a run directory, e.g. gallery/<recipe name>",
            )
        unreadable = []
        for run_path in runs:
            try:
                click.echo(f"gallery: {build_gallery(run_path)}")
            except RunUnreadable as exc:  # a damaged run: its neighbours are built all the same
                click.echo(f"error: {exc.message}", err=True)
                unreadable.append(exc)
        page = build_index(root)
        if unreadable:
            click.echo(f"gallery: {page}")
            raise ArtforgeError(
                f"{len(unreadable)} of the {len(runs)} runs in {root} cannot be read (named "
                "above): the index shows them as unreadable, the others are built",
                hint=unreadable[0].hint,
            )
    click.echo(f"gallery: {page}")
    if open_:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())


@gallery.command("serve")
@click.argument("directory", default="gallery", type=click.Path(file_okay=False))
@click.option(
    "--port", default=8000, show_default=True, type=int, help="Port on 127.0.0.1 (1-65535)."
)
@click.option("--open", "open_", is_flag=True, help="Open the page in a browser.")
def gallery_serve(directory, port, open_):
    """Serve DIRECTORY (default gallery/) over HTTP on 127.0.0.1 (Ctrl-C to stop)."""
    from .gallery.serve import check_port, make_server, page_url

    check_port(port)
    with make_server(directory, port) as server:
        url = page_url(server, directory)
        click.echo(f"serving {directory} at {url} (Ctrl-C to stop)")
        if open_:
            import webbrowser

            webbrowser.open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


@cli.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder in which to create artforge-NAME/.",
)
def new_plugin(name, directory):
    """Write a plugin package artforge-NAME/ that installs and passes its tests.

    It holds a pyproject.toml with the `artforge` entry point, a module that registers one
    step with a parameter schema, the step's code, a test and a README. Then:
    cd artforge-NAME && pip install -e ".[test]" && pytest
    """
    from .scaffold import create_plugin

    sk = create_plugin(name, directory)
    click.echo(f"created {sk.root}/: plugin '{sk.name}' with the step '{sk.step}'")
    for rel in sk.files:
        click.echo(f"  {rel}")
    click.echo("next:")
    click.echo(f'  cd {sk.root} && pip install -e ".[test]" && pytest')
    click.echo(f"  artforge steps {sk.step}")
    click.echo("reference: docs/plugins.md (hooks, the step context, testing, errors)")


_BUILTIN_COMMANDS = dict(cli.commands)
_PLUGIN_COMMANDS: dict[str, str] = {}  # command name -> plugin that added it


def _add_plugin_commands() -> None:
    """Let plugins add commands; one that fails or replaces a command gets a warning."""
    from .plugins import PluginImportInterrupted

    try:
        host = _host()
    except PluginImportInterrupted:
        raise
    except ArtforgeError:
        return
    for impl in host.impls("register_commands"):
        before = dict(cli.commands)
        try:
            host.call_impl(impl, "register_commands", cli=cli)
        except ArtforgeError as exc:
            cli.commands = before
            click.echo(f"warning: {exc.message}; its commands are skipped", err=True)
            continue
        plugin = impl.plugin_name
        for cmd_name, cmd in list(cli.commands.items()):
            if before.get(cmd_name) is cmd:
                continue
            owner = "artforge" if cmd_name in _BUILTIN_COMMANDS else _PLUGIN_COMMANDS.get(cmd_name)
            if owner not in (None, plugin):
                cli.commands[cmd_name] = before[cmd_name]
                click.echo(
                    f"warning: plugin '{plugin}' adds the command '{cmd_name}', which "
                    f"{owner if owner == 'artforge' else f'plugin {owner!r}'} already has; "
                    "ignored",
                    err=True,
                )
                continue
            _PLUGIN_COMMANDS[cmd_name] = plugin


def _rank_tag() -> str:
    """`` (rank N)`` in the messages of the ranks > 0 of a data-parallel launch."""
    try:
        from .context import Launch

        rank = Launch.from_env().rank
    except ArtforgeError:
        return ""
    return f" (rank {rank})" if rank else ""


def entry() -> None:
    """The ``artforge`` command (and ``python -m artforge``): :func:`main`, then exit.

    After a full disk or another resource error in a process that loaded HDF5 (Keras weights
    files), the exit skips the interpreter's clean-up: HDF5's own exit-time handling of a file
    whose write failed can crash the process (a segmentation fault, exit status 139) after
    artforge has printed its message, instead of ending with exit status 2."""
    code = main()
    if _HARD_EXIT["on"] and "h5py" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


_HARD_EXIT = {"on": False}


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    status_file = os.environ.get("ARTFORGE_EXIT_FILE")
    if status_file:  # set by `run --nproc` for its launcher: rank 0 reports its exit status
        try:
            from .context import Launch

            if Launch.from_env().is_main:
                Path(status_file).write_text(str(code))
        except (ArtforgeError, OSError):
            pass
    return code


def _main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        _DEBUG["on"] = True
    if "--trace-plugins" in args:
        os.environ["ARTFORGE_TRACE_PLUGINS"] = "1"
    try:
        _add_plugin_commands()
        cli.main(args=args, prog_name="artforge", standalone_mode=False)
    except _Relaunched as exc:
        return exc.code
    except click.exceptions.Abort as exc:
        stop = exc.__context__  # click turns Ctrl-C (KeyboardInterrupt) into Abort
        if isinstance(stop, KeyboardInterrupt):
            click.echo(INTERRUPTED, err=True)  # click has already ended the line
            return 143 if type(stop).__name__ == "Terminated" else 130
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except ArtforgeError as exc:
        _HARD_EXIT["on"] = isinstance(exc, ResourceError)
        click.echo(f"error{_rank_tag()}: {exc}", err=True)
        if _DEBUG["on"] and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM during a run (runner.Terminated)
        click.echo(f"\n{INTERRUPTED}", err=True)
        return 143 if type(exc).__name__ == "Terminated" else 130
    except Exception as exc:  # an artforge bug, unless the machine ran out of something
        from .runner import _resource_error, resource_oserror

        found = resource_oserror(exc)  # e.g. `gallery build` on a full disk
        if found is not None:
            err = _resource_error(found)
            if isinstance(err, ArtforgeError):
                _HARD_EXIT["on"] = True
                click.echo(f"error: {err}", err=True)
                return err.exit_code
        if _DEBUG["on"]:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("this is a bug in artforge; run with --debug for the traceback", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    entry()
