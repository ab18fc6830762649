"""What a step function receives: ``run(ctx, params)``.

The context gives the step its folder (everything it writes goes there, and the folder is
published atomically when the step succeeds), a persistent work folder for checkpoints (kept
across an interrupted run so training can resume), its seed, backend and device, resolved
inputs, and places to record metrics, loss curves, warnings and provenance.

It also says which process of a data-parallel launch (``torchrun``) runs the step:
:class:`Launch`, the one place artforge reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import Artifact, FileArtifact, ImageSet, ModelArtifact
from .errors import ArtforgeError, StepError
from .images import save_png
from .params import parse_ref
from .progress import Progress

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, fallback: str = "item") -> str:
    """A file-name-safe version of ``name``: no separators, no leading dots or dashes (a file
    named ``-rf.png`` is an option to ``rm *``), bounded length."""
    cleaned = SAFE_NAME.sub("_", str(name)).strip("._-")[:100].rstrip("._-")
    return cleaned or fallback


class ImageSetWriter:
    """Writes images of one output into the step folder and returns the :class:`ImageSet`."""

    def __init__(self, root: Path, meta: dict[str, Any] | None = None):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.files: list[str] = []
        self.labels: list[int] = []
        self.meta = dict(meta or {})
        self._names: set[str] = set()

    def add(self, image: np.ndarray, name: str | None = None, label: int | None = None) -> str:
        stem = safe_name(name if name is not None else f"{len(self.files):05d}")
        base, k = stem, 1
        while stem in self._names:
            k += 1
            stem = f"{base}_{k}"
        self._names.add(stem)
        fname = f"{stem}.png"
        save_png(self.root / fname, image, durable=False)  # the runner syncs the step folder
        self.files.append(fname)
        if label is not None:
            self.labels.append(int(label))
        return fname

    def finish(self, **meta: Any) -> ImageSet:
        self.meta.update(meta)
        labels = self.labels if self.labels and len(self.labels) == len(self.files) else None
        return ImageSet(self.root, list(self.files), labels, self.meta)


@dataclass(frozen=True)
class Launch:
    """Which process of a data-parallel launch this is; a plain run is rank 0 of 1.

    ``torchrun --nproc_per_node=N -m artforge run ...`` (or ``artforge run --nproc N``)
    starts N processes with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. Rank 0 runs the
    recipe and alone writes the run directory; the other ranks join only the steps whose run
    function is marked ``distributed`` (see docs/architecture.md, "Scale-out")."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    id: str = ""  # the same in every process of one launch, different for the next launch

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: Any = None) -> Launch:
        env = os.environ if environ is None else environ

        def number(name: str, default: int) -> int:
            value = str(env.get(name, "")).strip()
            if not value:
                return default
            if not value.isdigit():
                raise ArtforgeError(f"{name}={value!r} is not a number (set by the launcher)")
            return int(value)

        world = number("WORLD_SIZE", 1)
        if world <= 1:
            return cls()
        rank = number("RANK", 0)
        if rank >= world:
            raise ArtforgeError(f"RANK={rank} is not below WORLD_SIZE={world}")
        # torchrun gives every launch (and every restart) its own run id and port
        parts = ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT")
        launch_id = env.get("ARTFORGE_LAUNCH_ID") or "/".join(str(env.get(k, "")) for k in parts)
        return cls(rank, world, number("LOCAL_RANK", rank), launch_id)


@dataclass
class StepContext:
    step_id: str
    uses: str
    seed: int
    backend: str | None
    device: str
    dir: Path
    work_dir: Path
    run_dir: Path
    recipe_dir: Path
    resolve: Callable[[str], Artifact]
    log: Callable[[str], None] = print
    quiet: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)
    series: dict[str, list[list[float]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    # the launch as this step sees it: rank 0 of 1 unless the step runs data-parallel
    launch: Launch = field(default_factory=Launch)
    # the plugin registry (read-only): what ``component`` looks things up in
    registry: Any = None

    # -- inputs ---------------------------------------------------------------------------
    def input(self, ref: str) -> Artifact:
        """The artifact an ``${id.output}`` reference points at."""
        if parse_ref(ref) is None:
            raise StepError(
                f"step '{self.step_id}': {ref!r} is not a reference like ${{id.output}}"
            )
        return self.resolve(ref)

    def images(self, ref: str) -> ImageSet:
        art = self.input(ref)
        if not isinstance(art, ImageSet):
            raise StepError(f"step '{self.step_id}': {ref} is a {art.kind}, expected images")
        return art

    def model_input(self, ref: str) -> ModelArtifact:
        art = self.input(ref)
        if not isinstance(art, ModelArtifact):
            raise StepError(
                f"step '{self.step_id}': {ref} is a {art.kind}, expected a trained model"
            )
        return art

    def component(self, kind: str, name: str) -> Any:
        """The registered ``kind`` (``generator``, ``discriminator``, ``trainer``,
        ``style-optimiser``, ...) called ``name`` for this step's backend, loaded: what the
        plugin registered with ``register_models`` / ``register_trainers`` / ... (a class or
        function). Unknown names raise a StepError listing what is registered."""
        if self.registry is None:
            raise StepError(f"step '{self.step_id}': no plugin registry to look up {kind} '{name}'")
        try:
            comp = self.registry.component(kind, name, self.backend)
        except LookupError as exc:
            others = sorted(
                {b for (k, n, b) in self.registry.components if k == kind and n == name} - {None}
            )
            hint = (
                f"'{name}' exists for backend {', '.join(others)}: set backend: {others[0]} on "
                "this step"
                if others
                else "`artforge plugins` lists what each plugin registers"
            )
            raise StepError(f"step '{self.step_id}': {exc}", hint=hint) from None
        loaded = comp.load()
        # what the step ran of other plugins: a crash in it names that plugin (runner)
        self.__dict__.setdefault("_loaded_components", []).append(comp)
        return loaded

    def resolve_path(self, path: str | Path) -> Path:
        """A path from the recipe, relative to the recipe file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.recipe_dir / p)

    # -- outputs --------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        """A path inside the step folder; refuses anything that would escape it."""
        p = self.dir.joinpath(*parts).resolve()
        if not p.is_relative_to(self.dir.resolve()):
            raise StepError(f"step '{self.step_id}': refusing to write outside its folder: {p}")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def image_writer(self, output: str, **meta: Any) -> ImageSetWriter:
        return ImageSetWriter(self.path(safe_name(output)), meta)

    def model_artifact(self, output: str, filename: str, **meta: Any) -> ModelArtifact:
        folder = self.path(safe_name(output))
        folder.mkdir(parents=True, exist_ok=True)
        return ModelArtifact(folder, self._plain_file_name(filename), meta)

    def file_artifact(self, output: str, filename: str, **meta: Any) -> FileArtifact:
        folder = self.path(safe_name(output))
        folder.mkdir(parents=True, exist_ok=True)
        return FileArtifact(folder, self._plain_file_name(filename), meta)

    def _plain_file_name(self, filename: str) -> str:
        """An artifact's file lies directly in its output folder: no separators, no ``..``."""
        name = str(filename)
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise StepError(
                f"step '{self.step_id}': refusing the artifact file name {name!r}: it must be a "
                "plain file name inside the step's folder"
            )
        return name

    # -- records --------------------------------------------------------------------------
    def record(self, name: str, x: float, y: float) -> None:
        """Append a point to a curve (loss per iteration, metric per epoch) for the gallery."""
        self.series.setdefault(name, []).append([float(x), float(y)])

    def warn(self, message: str) -> None:
        """A warning shown in the log and, prominently, in the gallery."""
        self.warnings.append(message)
        if not self.quiet:
            self.log(f"  warning: {message}")

    def progress(self, total: int, desc: str = "") -> Progress:
        return Progress(total, desc or self.step_id, enabled=None if not self.quiet else False)
