"""Where the main recipe's wall time goes: training loops, I/O and Python overhead.

    python bench/profile_recipe.py [--quick] [--json PATH] [--out bench/results] [--full-recipe]

Runs ``artforge run recipes/night_to_day.yaml`` in this process (into a temporary run
folder: nothing cached) under ``cProfile``, and writes ``<out>/profile-<date>-<machine>.txt``
(``-quick`` added in quick mode): the shares, the steps' times, and the top functions.

How the wall time is split. Three profilers take turns, switched by wrappers installed in
this process only (nothing in artforge is changed):

- *imports*: the outermost ``import`` statement (``builtins.__import__``) and what it runs,
  including torch's and TensorFlow's start-up;
- *training loops*: ``GANTrainer.fit`` (pix2pix), ``train_sr`` (ESPCN) and
  ``train_transformer`` (the feed-forward style network), minus imports inside them;
- *gallery*: ``build_gallery`` at the end of the run (thumbnails, zips, loss-curve plots);
- *the rest*: the CLI, recipe validation, the other step work (scene rendering, inference,
  scoring, image writing).

Each phase's share is its measured wall time over the run's. Within a phase, every
function's own time (cProfile's ``tottime``) is sorted into one kind of work: tensor kernels
(torch / numpy C functions: forward, backward, optimiser), image codec (Pillow decode and
encode, zlib), file I/O (reads, writes, fsync, renames, stats, checkpoint serialisation),
import machinery, waiting (locks, sleeps: the gallery's thumbnail threads work meanwhile,
unseen by the profiler), and Python (interpreted code, split into torch's own Python layer,
artforge and its plugins, and other libraries / the standard library).

Caveat: cProfile adds a cost to every Python-level call, so the Python shares are an upper
bound and the profiled wall time is longer than a plain run's (``bench_memory.py`` measures
that one). In full mode the recipe runs with a quarter of its default iterations (the same
sizes, so each part keeps its proportion; ``--full-recipe`` for the defaults); quick mode
uses tiny ``--set`` values (smoke check only: start-up dominates).
"""

from __future__ import annotations

import builtins
import cProfile
import datetime
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, machine_slug, parser, report

sys.path.insert(0, str(ROOT / "plugins"))

QUICK_SETS = [
    "vars.size=32",
    "vars.pairs=16",
    "vars.holdout=4",
    "vars.epochs=1",
    "vars.decay_epochs=0",
    "vars.sr_steps=10",
    "vars.sr_patch=32",
    "vars.style_steps=5",
    "vars.style_size=64",
]
# a quarter of the default iterations of recipes/night_to_day.yaml, same sizes
FULL_SETS = ["vars.epochs=3", "vars.decay_epochs=1", "vars.sr_steps=375", "vars.style_steps=75"]

KINDS = (
    "tensor kernels",
    "image codec",
    "file I/O",
    "imports",
    "waiting",
    "Python: torch layer",
    "Python: artforge + plugins",
    "Python: other",
)


class Phases:
    """Profilers that take turns: one per phase; ``enter(name)`` switches to that phase's
    until the matching ``leave``."""

    def __init__(self, names: list[str]):
        self.prof = {n: cProfile.Profile() for n in names}
        self.seconds = dict.fromkeys(names, 0.0)
        self.stack: list[str] = []
        self.since = 0.0

    def _switch(self, to: str | None) -> None:
        now = time.perf_counter()
        if self.stack:
            cur = self.stack[-1]
            self.prof[cur].disable()
            self.seconds[cur] += now - self.since
        self.since = now
        if to is not None:
            self.prof[to].enable()

    def start(self, name: str) -> None:
        self._switch(name)
        self.stack.append(name)

    def stop(self) -> None:
        self._switch(None)
        self.stack.clear()

    def wrap(self, name: str, fn):
        def wrapper(*args, **kwargs):
            if not self.stack or self.stack[-1] == name or "imports" in self.stack:
                return fn(*args, **kwargs)  # already in this phase (or importing)
            self._switch(name)
            self.stack.append(name)
            try:
                return fn(*args, **kwargs)
            finally:
                # charge and disable this phase's profiler first, then back to the outer one
                self._switch(self.stack[-2] if len(self.stack) > 1 else None)
                self.stack.pop()

        wrapper.__wrapped__ = fn
        return wrapper


def install(phases: Phases) -> None:
    """Wrap the import statement and the three training loops (imports them: in the profile)."""
    original = builtins.__import__
    slow = phases.wrap("imports", original)

    def import_(name, globals=None, locals=None, fromlist=(), level=0):
        full = name
        if level:  # a relative import: resolve it against the importing package
            base = (globals or {}).get("__package__") or ""
            if level > 1:
                base = base.rsplit(".", level - 1)[0]
            full = f"{base}.{name}" if name else base
        if full in sys.modules:  # already imported: the fast path, not an import phase
            return original(name, globals, locals, fromlist, level)
        return slow(name, globals, locals, fromlist, level)

    import_.__wrapped__ = original
    builtins.__import__ = import_
    import artforge.gallery
    from artforge import sr_learned
    from artforge_torch.style import feedforward
    from artforge_torch.training import trainer

    # the runner imports it from the package when the run ends
    artforge.gallery.build_gallery = phases.wrap("gallery", artforge.gallery.build_gallery)

    trainer.GANTrainer.fit = phases.wrap("training loops", trainer.GANTrainer.fit)
    sr_learned.train_sr = phases.wrap("training loops", sr_learned.train_sr)
    feedforward.train_transformer = phases.wrap("training loops", feedforward.train_transformer)


def kind_of(key: tuple) -> str | None:
    """The kind of work of a profiled function (None: our own wrappers)."""
    file, _, name = key
    if file == "~":  # a C function
        if any(
            s in name for s in ("marshal.loads", "builtins.compile", "_imp.", "__build_class__")
        ):
            return "imports"
        if any(s in name for s in ("Imaging", "PIL.", "_imaging", "zlib")):
            return "image codec"
        if any(
            s in name
            for s in ("'_io.", "posix.", "io.open", "write_record", "safetensors", "syncfs")
        ):
            return "file I/O"
        if ("acquire" in name and "lock" in name) or any(
            s in name for s in ("time.sleep", "select.", "wait")
        ):
            return "waiting"
        if any(s in name for s in ("torch", "Tensor", "numpy", "_nn.", "_C.")):
            return "tensor kernels"
        return "Python: other"
    if file == __file__ or file.endswith("profile_recipe.py"):
        return None
    if "importlib" in file or name == "<module>":
        return "imports"
    if "/PIL/" in file:
        return "image codec"
    if any(s in file for s in ("/safetensors/", "torch/serialization.py", "artforge/atomic.py")):
        return "file I/O"
    if "/torch/" in file:
        return "Python: torch layer"
    if "/artforge" in file or str(ROOT / "plugins") in file:
        return "Python: artforge + plugins"
    return "Python: other"


def kinds(prof: cProfile.Profile) -> dict[str, float]:
    out = dict.fromkeys(KINDS, 0.0)
    try:
        st = pstats.Stats(prof)
    except TypeError:  # never enabled
        return out
    for key, (_, _, tt, _, _) in st.stats.items():
        k = kind_of(key)
        if k is not None:
            out[k] += tt
    return out


def top(prof: cProfile.Profile, sort: str, n: int) -> str:
    buf = io.StringIO()
    try:
        st = pstats.Stats(prof, stream=buf)
    except TypeError:  # never enabled
        return "(not profiled)"
    st.strip_dirs().sort_stats(sort).print_stats(n)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[start:])


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="report folder")
    ap.add_argument("--full-recipe", action="store_true", help="the recipe's default sizes")
    args = ap.parse_args()
    sets = QUICK_SETS if args.quick else ([] if args.full_recipe else FULL_SETS)
    phase_names = ["training loops", "the rest", "gallery", "imports"]
    phases = Phases(phase_names)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        run_dir = Path(tmp) / "run"
        argv = ["run", str(ROOT / "recipes" / "night_to_day.yaml"), "--out", str(run_dir), "-q"]
        for s in sets:
            argv += ["--set", s]
        t0 = time.perf_counter()
        phases.start("the rest")
        try:
            install(phases)
            from artforge.cli import main as cli_main

            code = cli_main(argv)
        finally:
            phases.stop()
            builtins.__import__ = builtins.__import__.__wrapped__
        wall = time.perf_counter() - t0
        if code != 0:
            sys.exit(f"artforge run failed (exit status {code})")
        import json

        manifest = json.loads((run_dir / "manifest.json").read_text())
    steps = [(s["id"], s["uses"], float(s.get("seconds") or 0)) for s in manifest["steps"]]
    table = {p: kinds(phases.prof[p]) for p in phase_names}
    total_kind = {k: sum(table[p][k] for p in phase_names) for k in KINDS}
    # I/O outside imports (reading .pyc files and shared libraries counts as imports)
    io_s = sum(
        table[p][k] for p in phase_names if p != "imports" for k in ("image codec", "file I/O")
    )
    # interpreted code outside imports (module bodies run at import count as imports)
    py_s = sum(
        table[p][k] for p in phase_names if p != "imports" for k in KINDS if k.startswith("Python")
    )
    train_s = phases.seconds["training loops"]
    train_kernels = table["training loops"]["tensor kernels"]

    def pct(x: float) -> str:
        return f"{100 * x / wall:5.1f}%"

    now = datetime.datetime.now()
    name = f"profile-{now:%Y-%m-%d}-{machine_slug()}" + ("-quick" if args.quick else "") + ".txt"
    lines = [
        f"# Profile of recipes/night_to_day.yaml ({now:%Y-%m-%d %H:%M})",
        f"command: artforge {' '.join(argv[:2])} " + " ".join(f"--set {s}" for s in sets),
        f"machine: {machine()}",
        f"profiled wall time: {wall:.1f} s (cProfile; a plain run is faster)",
        "",
        "## Phases (share of the wall time)",
        *[f"{p:<16} {phases.seconds[p]:8.1f} s  {pct(phases.seconds[p])}" for p in phase_names],
        "",
        "## Kinds of work by phase (seconds of own time; share of the wall time)",
        f"{'kind':<28}" + "".join(f"{p:>16}" for p in phase_names) + f"{'total':>16}",
        *[
            f"{k:<28}"
            + "".join(f"{table[p][k]:16.2f}" for p in phase_names)
            + f"{total_kind[k]:9.2f} {pct(total_kind[k])}"
            for k in KINDS
        ],
        f"{'(unattributed)':<28}"
        + "".join(f"{phases.seconds[p] - sum(table[p].values()):16.2f}" for p in phase_names),
        "",
        "## Headline",
        f"training loops: {pct(train_s)} of the wall time "
        f"({100 * train_kernels / max(train_s, 1e-9):.0f}% of it in tensor kernels)",
        f"I/O outside imports (image decode/encode, PNG and checkpoint writes, reads): {pct(io_s)}",
        f"Python overhead (interpreted code outside imports): {pct(py_s)}",
        f"imports and start-up: {pct(phases.seconds['imports'])}",
        "",
        "## Steps (their own times from manifest.json)",
        *[f"{sid:<16} {uses:<18} {sec:8.1f} s  {pct(sec)}" for sid, uses, sec in steps],
    ]
    for p in phase_names:
        lines += ["", f"## Top functions by own time: {p}", top(phases.prof[p], "tottime", 25)]
    lines += [
        "",
        "## Top functions by cumulative time: the rest",
        top(phases.prof["the rest"], "cumulative", 25),
    ]
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    from artforge.atomic import write_text

    write_text(args.out / name, text)
    print("\n".join(lines[: lines.index("## Steps (their own times from manifest.json)")]))
    print(f"written: {args.out / name}")
    rows = [
        {
            "name": "training loops",
            "value": 100 * train_s / wall,
            "unit": "% of wall",
            "note": f"{100 * train_kernels / max(train_s, 1e-9):.0f}% of it in tensor kernels; "
            f"profiled wall {wall:.1f} s; {args.out / name}",
        },
        {
            "name": "I/O (image codec, file reads/writes)",
            "value": 100 * io_s / wall,
            "unit": "% of wall",
        },
        {"name": "Python overhead", "value": 100 * py_s / wall, "unit": "% of wall"},
        {
            "name": "imports and start-up",
            "value": 100 * phases.seconds["imports"] / wall,
            "unit": "% of wall",
        },
    ]
    if sets:
        rows[0]["note"] += "; --set " + " ".join(sets)
    report("Profile of the main recipe", rows, args.json)


if __name__ == "__main__":
    main()
