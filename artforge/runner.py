"""The runner: executes a validated recipe's steps in dependency order into a run directory.

Layout of a run directory::

    gallery/<recipe-name>/
        manifest.json          the run: recipe, command, status and timing of every step
        recipe.yaml            the recipe text as run
        steps/<id>/record.json parameters, seed, cache key, metrics, curves, versions, outputs
        steps/<id>/<output>/   the step's artifacts (PNG images, checkpoints, files)
        index.html             the gallery page
        .work/<id>/            checkpoints of a step in progress (resume after a crash)
        .staging/<id>/         a step being written; published by rename when it succeeds

Caching: a step's key hashes its type, version, backend, device, parameters, seed and the
keys of the steps it reads. A step whose record has the same key is reused, if the files it
published are still there unchanged (size and SHA-256 recorded at publication, checked by
:mod:`.integrity`); otherwise it runs again, with the steps that use it.

Data-parallel launches (``torchrun``, ``artforge run --nproc N``; :class:`~.context.Launch`):
rank 0 is the runner described above and the only process that writes the run directory
(lock, manifest, records, artifacts, checkpoints, gallery). Its manifest also carries the
launch id and its plan. Every other rank follows it (:meth:`Runner._follow`): it waits for
that manifest, and for each step that rank 0 runs and whose run function is marked
``distributed`` (``fn.distributed = True``), it waits until rank 0 has started the step (so
its inputs are published), then runs the step too, with inputs read from the run directory
and its own outputs in a private scratch folder that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import __version__, ownership, safefs
from .artifacts import Artifact, artifact_files, artifact_from_record
from .atomic import replace_dir, sync_tree, write_json, write_text
from .context import Launch, StepContext, safe_name
from .errors import ArtforgeError, CheckpointError, ResourceError, RunLocked, StepError
from .integrity import damage, describe
from .params import parse_ref
from .recipe import Recipe, Step
from .seeding import derive_seed

RECORD = "record.json"
MANIFEST = "manifest.json"


class StepCrashed(ArtforgeError):
    """A step raised an unexpected exception: a bug in its plugin (exit status 1)."""

    exit_code = 1


@dataclass
class StepOutcome:
    id: str
    status: str  # "ran", "reused", "failed", "pending"
    seconds: float = 0.0
    key: str = ""


@dataclass
class RunSummary:
    run_dir: Path
    outcomes: list[StepOutcome] = field(default_factory=list)
    gallery: Path | None = None

    def status_of(self, step_id: str) -> str:
        return next(o.status for o in self.outcomes if o.id == step_id)


def default_run_dir(recipe: Recipe) -> Path:
    return Path("gallery") / recipe.name


def library_versions() -> dict[str, str]:
    """Versions of the libraries that matter, without importing any framework."""
    import platform

    import numpy
    import PIL

    versions = {
        "artforge": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
    for mod in ("torch", "tensorflow", "keras"):
        m = sys.modules.get(mod)
        if m is not None and getattr(m, "__version__", None):
            versions[mod] = m.__version__
    return versions


class Runner:
    def __init__(
        self,
        recipe: Recipe,
        host: Any,
        out_dir: Path | None = None,
        *,
        force: tuple[str, ...] | list[str] = (),
        log: Any = None,
        quiet: bool = False,
        command: list[str] | None = None,
        launch: Launch | None = None,
        verify: bool = False,
    ):
        self.recipe = recipe
        self.launch = launch or Launch.from_env()
        self.host = host
        self.run_dir = Path(out_dir) if out_dir else default_run_dir(recipe)
        self.log = log or (lambda msg: print(msg, flush=True))
        self.quiet = quiet
        self.command = command or ["artforge", "run", str(recipe.path)]
        unknown = [f for f in force if f not in {s.id for s in recipe.steps}]
        if unknown:
            from .errors import suggest

            hint = suggest(unknown[0], [s.id for s in recipe.steps])
            raise ArtforgeError(
                f"--force {unknown[0]}: no step with that id in {recipe.path}",
                hint=hint or "step ids: " + ", ".join(s.id for s in recipe.steps),
            )
        self.force = set(force)
        self.run_id = ""  # the run directory's, from its marker (ownership.claim)
        self._created = time.time()
        self.keys: dict[str, str] = {}
        self.artifacts: dict[str, dict[str, Artifact]] = {}
        self.verify = verify  # hash every published file before reuse (else size + mtime)
        self.damaged: dict[str, str] = {}  # step id -> what is wrong with its published files
        self._checked: dict[tuple[str, str], str | None] = {}

    # -- keys and plan ----------------------------------------------------------------
    def step_key(self, step: Step) -> str:
        payload = {
            "uses": step.type.name,
            "version": step.type.version,
            "backend": step.backend,
            "device": self.recipe.spec.device if step.backend else None,
            "params": step.params.model_dump(mode="json", by_alias=True),
            "seed": self.step_seed(step),
            "inputs": {d: self.keys[d] for d in sorted(step.deps)},
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def step_seed(self, step: Step) -> int:
        return derive_seed(self.recipe.spec.seed, step.id)

    def step_dir(self, step_id: str) -> Path:
        return self.run_dir / "steps" / step_id

    def plan(self, check_files: bool = True) -> list[tuple[Step, str, str]]:
        """(step, key, "run" | "reuse") for every step, without running anything.
        ``check_files=False``: trust that the published files are intact."""
        rows = []
        changed: set[str] = set()
        for step in self.recipe.steps:
            key = self.step_key(step)
            self.keys[step.id] = key
            record = self._load_record(step.id)
            reusable = (
                step.id not in self.force
                and record is not None
                and record.get("key") == key
                and not (set(step.deps) & changed)
                and (not check_files or self._intact(step.id, record))
            )
            if not reusable:
                changed.add(step.id)
            rows.append((step, key, "reuse" if reusable else "run"))
        return rows

    def _load_record(self, step_id: str) -> dict | None:
        data = safefs.read_bytes(self.run_dir, Path("steps", step_id, RECORD))  # never a link
        try:
            rec = json.loads(data) if data is not None else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return rec if isinstance(rec, dict) and rec.get("status") == "ok" else None

    def _intact(self, step_id: str, record: dict) -> bool:
        """Whether the files the step published are there unchanged; what is wrong goes into
        ``self.damaged`` (checked once per run: ``plan`` runs before and after locking)."""
        memo = (step_id, str(record.get("key")))
        if memo not in self._checked:
            self._checked[memo] = self._damage(step_id, record)
        problem = self._checked[memo]
        if problem:
            self.damaged[step_id] = problem
        return problem is None

    def _damage(self, step_id: str, record: dict) -> str | None:
        base = self.step_dir(step_id)
        # a cached result is reused only from files inside the run directory, reached without
        # a link (``steps/x -> /elsewhere`` would pass another folder's files off as ours)
        if safefs.first_link(self.run_dir, Path("steps", step_id)) or safefs.find_link(base):
            return f"{base} holds a symbolic link"
        try:
            files = [
                p
                for rec in record.get("outputs", {}).values()
                for p in artifact_files(artifact_from_record(rec, base))
            ]
        except (KeyError, ValueError, TypeError, AttributeError):
            return f"{base / RECORD} names outputs that cannot be read"
        if "files" not in record:  # published before artforge recorded hashes
            missing = next((p for p in files if not p.is_file()), None)
            return f"{missing} is missing" if missing else None
        found = damage(base, record["files"], files, full=self.verify)
        return f"{base / found[0]} {found[1]}" if found else None

    # -- running -------------------------------------------------------------------------
    def run(self) -> RunSummary:
        if not self.launch.is_main:
            return self._follow()
        # everything that can be checked without writing is checked before the first write
        for step, _, action in self.plan():
            if action == "run":
                self._check_backend(step)
        # a folder that is not artforge's, or that holds a link, is refused before anything
        # (marker, lock) is written in it
        ownership.check_claim(self.run_dir)
        if self.run_dir.is_dir():
            self._refuse_symlinks()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResourceError(
                f"cannot create the run directory {self.run_dir}: {exc.strerror or exc}",
                hint="choose another folder with --out",
            ) from None
        if not os.access(self.run_dir, os.W_OK):
            raise ResourceError(
                f"the run directory {self.run_dir} is not writable",
                hint="choose another folder with --out",
            )
        try:
            self.run_id = ownership.claim(self.run_dir)  # the marker is written first
        except OSError as exc:
            err = _resource_error(exc, self.run_dir)
            if err is exc:
                raise
            raise err from None
        try:
            with _terminate_as_interrupt(), self._lock():
                self._refuse_symlinks()  # again, under the lock
                self._sweep()
                try:
                    return self._run_locked()
                except BaseException as exc:
                    self._mark_stopped(exc)
                    raise
        except ArtforgeError:
            raise
        except Exception as exc:
            found = resource_oserror(exc)
            if found is None:
                raise
            raise _resource_error(found, self.run_dir) from None

    def _refuse_symlinks(self) -> None:
        """Everything artforge writes stays inside the run directory: a symbolic link in it
        (``steps -> /elsewhere``, ``.staging -> ~``) would send writes or deletions outside."""
        safefs.refuse_links(self.run_dir, "run")

    def _sweep(self) -> None:
        """Remove what a killed run left half-done, only where artforge writes it, in this
        marked run directory: temporary files of atomic writes (``.name.XXXXXXXX.tmp``) beside
        the manifest and in ``.work/`` and ``_gallery/``, and step folders that ``replace_dir``
        set aside in ``steps/``. Other sub-folders (a plugin's, the user's) are not entered."""
        if ownership.read_marker(self.run_dir) is None:
            return
        for name in os.listdir(self.run_dir):
            path = self.run_dir / name
            if TEMP_FILE.match(name) and safefs.regular_file(self.run_dir, name):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        for top, dirs, _ in safefs.walk(self.run_dir / "steps"):
            for name in [d for d in dirs if OLD_DIR.match(d)]:
                shutil.rmtree(top / name, ignore_errors=True)  # never follows a link inside
            dirs.clear()
        for owned in (".work", "_gallery"):
            for top, _, files in safefs.walk(self.run_dir / owned):
                for name in files:
                    if TEMP_FILE.match(name):
                        with contextlib.suppress(OSError):
                            os.unlink(top / name)

    @contextlib.contextmanager
    def _lock(self):
        path = self.run_dir / ".lock"
        try:  # O_NOFOLLOW: a planted `.lock -> ~/file` must not be truncated
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ArtforgeError(
                    f"refusing to run: {path} is a symbolic link",
                    hint="remove it; artforge writes only inside the run directory",
                ) from None
            raise
        fh = os.fdopen(fd, "r+")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise RunLocked(
                    f"another artforge run ({holder}) is writing to {self.run_dir}",
                    hint="wait for it to finish, or use --out to write elsewhere",
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    def _run_locked(self) -> RunSummary:
        summary = RunSummary(self.run_dir)
        staging_root = self.run_dir / ".staging"
        shutil.rmtree(staging_root, ignore_errors=True)  # leftovers of a crashed run
        plan = self.plan()
        started = time.time()
        manifest = self.manifest = self._manifest(plan, started)
        write_text(self.run_dir / "recipe.yaml", self.recipe.text)
        self._write_manifest(manifest)
        total = len(plan)
        try:
            for n, (step, key, action) in enumerate(plan, 1):
                label = f"[{n}/{total}] {step.id} ({step.type.name})"
                entry = manifest["steps"][n - 1]
                if action == "reuse":
                    # a run killed between publishing a step and clearing its checkpoints
                    shutil.rmtree(self.run_dir / ".work" / step.id, ignore_errors=True)
                    self.artifacts[step.id] = self._artifacts_from_record(step.id)
                    entry["status"] = "reused"
                    summary.outcomes.append(StepOutcome(step.id, "reused", 0.0, key))
                    self.log(f"{label} reused (unchanged since the last run)")
                    continue
                if step.id in self.damaged:
                    users = [s.id for s in self.recipe.steps if step.id in s.deps]
                    entry["damaged"] = self.damaged[step.id]
                    self.log(
                        f"warning: step '{step.id}': {self.damaged[step.id]}; running it again"
                        + (f", and the steps that use it ({', '.join(users)})" if users else "")
                    )
                self.log(f"{label} running...")
                entry["status"] = "running"
                self._write_manifest(manifest)
                t0 = time.perf_counter()
                try:
                    self._run_step(step, key)
                except BaseException as exc:
                    entry["status"] = (
                        "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                    )
                    entry["error"] = str(exc)
                    manifest["status"] = entry["status"]
                    manifest["finished"] = _now()
                    with contextlib.suppress(OSError):  # e.g. the disk is full: keep exc
                        self._write_manifest(manifest)
                    summary.outcomes.append(StepOutcome(step.id, "failed", 0.0, key))
                    raise
                dt = time.perf_counter() - t0
                entry.update(status="ran", seconds=round(dt, 3))
                summary.outcomes.append(StepOutcome(step.id, "ran", dt, key))
                self._write_manifest(manifest)
                self.log(f"{label} done in {dt:.1f}s")
        finally:
            shutil.rmtree(staging_root, ignore_errors=True)
        manifest["status"] = "ok"
        manifest["finished"] = _now()
        manifest["seconds"] = round(time.time() - started, 3)
        manifest["versions"] = library_versions()
        self._write_manifest(manifest)
        if self.recipe.spec.gallery.enabled:
            from .gallery import build_gallery

            summary.gallery = build_gallery(self.run_dir, host=self.host)
        self.host.call("run_finished", run_dir=self.run_dir, manifest=manifest)
        return summary

    def _context(
        self,
        step: Step,
        staging: Path,
        work: Path,
        run_dir: Path,
        *,
        log: Callable[[str], None] | None = None,
        quiet: bool | None = None,
    ) -> StepContext:
        """The context a step runs with: in ``staging`` (its output folder) and ``work`` (its
        checkpoints), reading the run directory ``run_dir``."""
        return StepContext(
            step_id=step.id,
            uses=step.type.name,
            seed=self.step_seed(step),
            backend=step.backend,
            device=self.recipe.spec.device,
            dir=staging,
            work_dir=work,
            run_dir=run_dir,
            recipe_dir=self.recipe.path.parent.resolve(),
            resolve=self._resolve,
            log=self.log if log is None else log,
            quiet=self.quiet if quiet is None else quiet,
            registry=self.host.registry,
        )

    def _run_step(self, step: Step, key: str) -> None:
        staging = self.run_dir / ".staging" / step.id
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        work = self.run_dir / ".work" / step.id
        key_file = work / "KEY"
        if step.id in self.force:  # redo means from the start: no resuming from a checkpoint
            shutil.rmtree(work, ignore_errors=True)
        if work.exists() and (not key_file.exists() or key_file.read_text().strip() != key):
            shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        write_text(key_file, key)
        ctx = self._context(step, staging, work, self.run_dir)
        self._check_backend(step)
        t_start = time.time()
        fn = self._load_run(step)
        if _is_distributed(fn):
            ctx.launch = self.launch  # the step runs on every rank of the launch
        try:
            outputs = fn(ctx, step.params)
        except CheckpointError as exc:
            raise StepError(
                f"step '{step.id}': {exc.message}",
                hint=f"run the same command with --force {step.id} to start the step afresh "
                "(it discards the checkpoint)",
            ) from exc
        except ArtforgeError:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except MemoryError:
            raise ResourceError(
                f"step '{step.id}' ran out of memory", hint=_smaller_hint(step, gpu=False)
            ) from None
        except Exception as exc:
            # a full disk inside framework code (torch.save, safetensors, h5py) arrives
            # wrapped in their own exceptions: found before "out of memory" (TensorFlow maps
            # ENOSPC to ResourceExhaustedError) and before "a bug in the plugin"
            found = resource_oserror(exc)
            if found is not None:
                raise _resource_error(found, self.run_dir, step.id) from None
            if _is_oom(exc):
                raise ResourceError(
                    f"step '{step.id}' ran out of GPU memory", hint=_smaller_hint(step, gpu=True)
                ) from None
            raise self._crash(step, exc, ctx) from exc
        outputs = outputs or {}
        if not isinstance(outputs, dict):
            raise StepCrashed(
                f"step '{step.id}' ({step.type.name}, plugin '{step.type.plugin}') returned "
                f"{type(outputs).__name__}, expected a dict of outputs"
            )
        wrong = {k: v for k, v in outputs.items() if not isinstance(v, Artifact)}
        if wrong:
            name, value = next(iter(wrong.items()))
            raise StepCrashed(
                f"step '{step.id}' ({step.type.name}, plugin '{step.type.plugin}') returned a "
                f"{type(value).__name__} for output '{name}', expected an artifact such as "
                "ctx.image_writer(...).finish()"
            )
        extra = set(outputs) - set(step.type.outputs)
        if extra:
            raise StepCrashed(
                f"step '{step.id}' ({step.type.name}, plugin '{step.type.plugin}') returned "
                f"undeclared outputs: {', '.join(sorted(extra))}"
            )
        try:
            out_records = {name: art.to_record(staging) for name, art in outputs.items()}
        except ValueError as exc:
            raise StepCrashed(f"step '{step.id}' (plugin '{step.type.plugin}'): {exc}") from None
        try:
            files = describe(staging, [p for a in outputs.values() for p in artifact_files(a)])
        except OSError as exc:
            if exc.errno in RESOURCE_ERRNOS:
                raise _resource_error(exc, self.run_dir, step.id) from None
            raise StepCrashed(
                f"step '{step.id}' ({step.type.name}, plugin '{step.type.plugin}') returned an "
                f"artifact whose file cannot be read: {exc}"
            ) from None
        record = {
            "id": step.id,
            "uses": step.type.name,
            "plugin": step.type.plugin,
            "plugin_version": (
                self.host.infos.get(step.type.plugin).version
                if step.type.plugin in self.host.infos
                else None
            ),
            "backend": step.backend,
            "device": ctx.info.pop("device", None)
            or (self.recipe.spec.device if step.backend else "cpu"),
            "key": key,
            "seed": ctx.seed,
            "params": step.params.model_dump(mode="json", by_alias=True),
            "inputs": {d: self.keys[d] for d in step.deps},
            "outputs": out_records,
            "files": files,  # size and SHA-256 of each, verified before the step is reused
            "metrics": ctx.metrics,
            "series": ctx.series,
            "warnings": ctx.warnings,
            "info": ctx.info,
            "started": datetime.fromtimestamp(t_start, timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - t_start, 3),
            "versions": library_versions(),
            "status": "ok",
        }
        write_json(staging / RECORD, record)
        sync_tree(staging)  # every file on disk before the folder is published
        target = self.step_dir(step.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_dir(staging, target)
        shutil.rmtree(work, ignore_errors=True)
        self.artifacts[step.id] = self._artifacts_from_record(step.id)

    def _load_run(self, step: Step) -> Any:
        try:
            return step.type.load_run()
        except Exception as exc:
            from .errors import PluginError

            raise PluginError(
                f"step '{step.id}' ({step.type.name}, plugin '{step.type.plugin}'): cannot load "
                f"its run function {step.type.run!r}: {type(exc).__name__}: {exc}",
                hint="is the plugin installed completely, with its dependencies?",
            ) from exc

    # -- ranks > 0 of a data-parallel launch -----------------------------------------------
    def _follow(self) -> RunSummary:
        """Follow rank 0: join the distributed steps it runs, write nothing in the run directory.

        Rank 0 alone decides what runs (it holds the lock and its plan is in the manifest),
        runs the backend-free and single-process steps and publishes their outputs; this rank
        reads them from there once rank 0 has started the distributed step that needs them.
        Running every step on every rank instead would cost N times the work and could feed
        the ranks different inputs (a cache hit on one rank and not another, GPU
        non-determinism), and a rank that disagrees on the plan would hang the others."""
        summary = RunSummary(self.run_dir)
        keys = {step.id: key for step, key, _ in self.plan(check_files=False)}  # keys only
        manifest = self._await_rank0(None, ())
        plan = manifest["launch"]["plan"]
        theirs = {e["id"]: e.get("key") for e in manifest["steps"]}
        if theirs != keys:
            differ = next((i for i in keys if theirs.get(i) != keys[i]), "?")
            raise ArtforgeError(
                f"rank {self.launch.rank}: rank 0 runs a different recipe (step '{differ}' has "
                "another cache key there)",
                hint="start every rank with the same command, recipe and --set values",
            )
        todo = [
            s
            for s in self.recipe.steps
            if plan.get(s.id) == "run" and _is_distributed(self._load_run(s))
        ]
        if not todo:
            return summary
        scratch = Path(tempfile.mkdtemp(prefix=f"artforge-rank{self.launch.rank}-"))
        try:
            for step in todo:
                self._await_rank0(step.id, ("running", "ran"))
                for dep in step.deps:  # published by rank 0 before it started this step
                    self.artifacts[dep] = self._artifacts_from_record(dep)
                folder = scratch / safe_name(step.id)
                ctx = self._context(
                    step, folder / "out", folder / "work", folder, log=lambda msg: None, quiet=True
                )
                ctx.launch = self.launch
                ctx.dir.mkdir(parents=True)
                ctx.work_dir.mkdir(parents=True)
                t0 = time.perf_counter()
                self._load_run(step)(ctx, step.params)  # its outputs stay in the scratch folder
                dt = time.perf_counter() - t0
                summary.outcomes.append(StepOutcome(step.id, "ran", dt, keys[step.id]))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return summary

    def _await_rank0(self, step_id: str | None, statuses: tuple[str, ...]) -> dict[str, Any]:
        """Rank 0's manifest of this launch once step ``step_id`` has one of ``statuses``
        (``None``: as soon as the manifest exists). Rank 0 failing ends the wait with its
        error; a rank 0 that never writes a manifest (another run holds the lock) ends it after
        ``ARTFORGE_LAUNCH_TIMEOUT`` seconds (torchrun stops the other ranks earlier)."""
        path = self.run_dir / MANIFEST
        limit = float(os.environ.get("ARTFORGE_LAUNCH_TIMEOUT", "600"))
        t0 = time.time()
        while True:
            try:
                manifest = json.loads(path.read_text())
            except (OSError, ValueError):
                manifest = None
            launch = manifest.get("launch") if isinstance(manifest, dict) else None
            # the id, and a start no older than this process, tell this launch from an old run
            if (
                isinstance(launch, dict)
                and launch.get("id") == self.launch.id
                and float(launch.get("started", 0)) >= self._created - 120
            ):
                status = manifest.get("status")
                if status in ("failed", "interrupted"):
                    failed = next((e for e in manifest["steps"] if e.get("error")), {})
                    raise ArtforgeError(
                        f"rank {self.launch.rank}: rank 0 stopped ({status}"
                        + (f" in step '{failed['id']}': {failed['error']}" if failed else "")
                        + ")"
                    )
                if step_id is None:
                    return manifest
                entry = next((e for e in manifest["steps"] if e["id"] == step_id), {})
                if entry.get("status") in statuses:
                    return manifest
                t0 = time.time()  # rank 0 is alive and on its way
            elif time.time() - t0 > limit:
                raise ArtforgeError(
                    f"rank {self.launch.rank}: rank 0 wrote no manifest for this launch in "
                    f"{self.run_dir} within {limit:.0f} s",
                    hint="is another artforge run holding the run directory? "
                    "(ARTFORGE_LAUNCH_TIMEOUT sets the wait)",
                )
            time.sleep(0.1)

    def _crash(self, step: Step, exc: BaseException, ctx: Any = None) -> StepCrashed:
        where = ""
        culprit = _crashed_component(exc, getattr(ctx, "_loaded_components", ()), step)
        if culprit is not None:  # in a trainer, optimiser or model another plugin registered
            where = f" in {culprit.kind} '{culprit.name}' of plugin '{culprit.plugin}'"
        err = StepCrashed(
            f"step '{step.id}' ({step.type.name}, plugin '{step.type.plugin}') crashed{where}: "
            f"{type(exc).__name__}: {exc}",
            hint="this is a bug in the plugin; run with --debug for the traceback",
        )
        err.__cause__ = exc
        return err

    def _check_backend(self, step: Step) -> None:
        if not step.backend:
            return
        backend = self.host.registry.backends.get(step.backend)
        if backend is None:
            return
        missing = backend.missing()
        if missing:
            from .errors import BackendUnavailable

            raise BackendUnavailable(
                f"step '{step.id}' needs the {step.backend} backend, but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed",
                hint=f"install it with: {backend.install}" if backend.install else None,
            )

    def _artifacts_from_record(self, step_id: str) -> dict[str, Artifact]:
        base = self.step_dir(step_id)
        record = json.loads((base / RECORD).read_text())
        return {name: artifact_from_record(rec, base) for name, rec in record["outputs"].items()}

    def _resolve(self, ref: str) -> Artifact:
        step_id, output = parse_ref(ref) or ("", "")
        arts = self.artifacts.get(step_id)
        if arts is None:
            raise StepError(f"{ref}: step '{step_id}' has not run")
        if output not in arts:
            raise StepError(f"{ref}: step '{step_id}' produced no output '{output}'")
        return arts[output]

    # -- manifest ------------------------------------------------------------------------
    def _manifest(self, plan: list[tuple[Step, str, str]], started: float) -> dict[str, Any]:
        spec = self.recipe.spec
        return {
            "artforge_version": __version__,
            "run_id": self.run_id,
            "recipe": {
                "name": spec.name,
                "description": spec.description,
                "file": str(self.recipe.path),
                "sha256": hashlib.sha256(self.recipe.text.encode()).hexdigest(),
                "overrides": self.recipe.overrides,
            },
            "title": spec.gallery.title or spec.name,
            "command": " ".join(shlex.quote(a) for a in self.command),
            "backend": spec.backend,
            "device": spec.device,
            "seed": spec.seed,
            "gallery": spec.gallery.model_dump(),
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "finished": None,
            "status": "running",
            "steps": [
                {
                    "id": step.id,
                    "uses": step.type.name,
                    "backend": step.backend,
                    "plugin": step.type.plugin,
                    "description": step.spec.description,
                    "deps": step.deps,
                    "key": key,
                    "status": "pending",
                    "record": f"steps/{step.id}/{RECORD}",
                }
                for step, key, _ in plan
            ],
            "versions": library_versions(),
            **(
                {
                    "launch": {
                        "id": self.launch.id,
                        "world_size": self.launch.world_size,
                        "started": started,
                        "plan": {step.id: action for step, _, action in plan},
                    }
                }
                if self.launch.distributed
                else {}
            ),
        }

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.run_dir / MANIFEST, manifest)

    def _mark_stopped(self, exc: BaseException) -> None:
        """A run that stops anywhere (between steps, in the gallery, in a ``run_finished``
        hook, by Ctrl-C or SIGTERM) leaves a manifest that says so, never ``running`` or an
        ``ok`` it did not reach. A step that failed has already said so in its entry."""
        manifest = getattr(self, "manifest", None)
        if manifest is None or manifest.get("status") not in ("running", "ok"):
            return
        interrupted = isinstance(exc, KeyboardInterrupt)
        manifest["status"] = "interrupted" if interrupted else "failed"
        manifest["finished"] = _now()
        manifest["error"] = "interrupted" if interrupted else str(exc) or type(exc).__name__
        for entry in manifest["steps"]:
            if entry.get("status") == "running":
                entry["status"] = manifest["status"]
        with contextlib.suppress(OSError):  # e.g. the disk is full: keep exc
            self._write_manifest(manifest)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler, torchrun stopping its workers): handled like Ctrl-C,
    so the run cleans up and its manifest says ``interrupted``."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    def handler(signum, frame):
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _is_distributed(fn: Any) -> bool:
    """A run function that takes part in data-parallel launches sets ``fn.distributed = True``:
    every rank runs it (it shards the work and lets rank 0 write); any other step runs on
    rank 0 only."""
    return getattr(fn, "distributed", False) is True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


RESOURCE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
# what frameworks that keep only the text of an OSError say (safetensors: "I/O error: No space
# left on device (os error 28)"; HDF5: "errno = 28, error message = 'No space left ...'")
_RESOURCE_TEXT = [
    (
        errno.ENOSPC,
        re.compile(r"no space left on device|os error 28\b|errno = 28\b|storagefull", re.I),
    ),
    (errno.EDQUOT, re.compile(r"disk quota exceeded|os error 122\b|errno = 122\b", re.I)),
    (errno.EROFS, re.compile(r"read-only file system|os error 30\b|errno = 30\b", re.I)),
]
_FILENAME_TEXT = re.compile(r"filename = '([^']+)'")
TEMP_FILE, OLD_DIR = ownership.TEMP_FILE, ownership.OLD_DIR


def resource_oserror(exc: BaseException) -> OSError | None:
    """The full disk, quota or read-only file system behind ``exc``, as an OSError, or None.

    Frameworks wrap the OSError of a failed write: ``torch.save`` raises a RuntimeError
    ("unexpected pos ...") whose context is the OSError, h5py may raise an AttributeError in
    its clean-up with the OSError as context, safetensors keeps only its text. So the causes
    and contexts of ``exc`` are searched, and their messages."""
    todo, seen = [exc], set()
    while todo:
        x = todo.pop(0)
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, OSError) and x.errno in RESOURCE_ERRNOS:
            if x.filename is None and _FILENAME_TEXT.search(str(x)):
                x.filename = _FILENAME_TEXT.search(str(x)).group(1)
            return x
        if not isinstance(x, ArtforgeError):
            for code, pattern in _RESOURCE_TEXT:
                if pattern.search(str(x)):
                    where = _FILENAME_TEXT.search(str(x))
                    return OSError(code, os.strerror(code), where.group(1) if where else None)
        todo += [x.__cause__, x.__context__]
    return None


def _resource_error(
    exc: OSError, run_dir: Path | None = None, step_id: str | None = None
) -> Exception:
    """A full disk or a folder that cannot be written: one clear message (exit status 2).
    Anything else is returned as it is."""
    if exc.errno not in RESOURCE_ERRNOS:
        return exc
    who = f"step '{step_id}': " if step_id else ""
    where = exc.filename or run_dir or "a file"
    kept = "finished steps are kept; the same command resumes after that"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(
            f"{who}the disk is full (writing {where})",
            hint=f"free some space or choose another folder with --out; {kept}",
        )
    if exc.errno == errno.EROFS:
        return ResourceError(
            f"{who}cannot write {where}: the file system is read-only",
            hint="choose another folder with --out",
        )
    return ResourceError(
        f"{who}cannot write {where}: permission denied",
        hint="check the folder's permissions, or choose another folder with --out",
    )


def _smaller_hint(step: Step, gpu: bool) -> str:
    params = step.params
    parts = []
    batch = getattr(params, "batch_size", None)
    if isinstance(batch, int) and batch > 1:
        parts.append(f"a smaller batch_size (now {batch}; try {max(1, batch // 2)})")
    elif batch is not None:
        parts.append("a smaller batch_size")
    if hasattr(params, "tile"):
        tile = getattr(params, "tile", None)
        parts.append(f"smaller tiles (tile: {tile // 2})" if tile else "tiling (tile: 256)")
    for key in ("image_size", "patch_size", "size"):
        if isinstance(getattr(params, key, None), int):
            parts.append(f"a smaller {key}")
            break
    if not parts:
        parts.append("smaller images")
    hint = "use " + ", ".join(parts[:-1]) + (" or " if len(parts) > 1 else "") + parts[-1]
    if gpu:
        hint += "; or device: cpu (slower, but limited only by the machine's memory)"
    return hint


def _is_oom(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc)
    return name in ("OutOfMemoryError", "ResourceExhaustedError") or "out of memory" in text.lower()


def _crashed_component(exc: BaseException, loaded: Any, step: Step) -> Any:
    """The registered component of another plugin whose code raised ``exc`` (the innermost
    traceback frame in its module), or None: the crash is then the step's plugin's."""
    others = [c for c in loaded if c.plugin != step.type.plugin]
    if not others:
        return None
    modules = {}
    for c in others:
        module = (
            c.factory.partition(":")[0]
            if isinstance(c.factory, str)
            else getattr(c.factory, "__module__", None)
        )
        if module:
            modules[module] = c
    tb, culprit = exc.__traceback__, None
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        for module, c in modules.items():
            if name == module or name.startswith(module + "."):
                culprit = c
        tb = tb.tb_next
    return culprit
