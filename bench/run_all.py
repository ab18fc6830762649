"""Run every benchmark and collect the figures into ``bench/results/``.

    python bench/run_all.py [--quick] [--out bench/results] [--only NAME ...] [--skip NAME ...]
                            [--deadline MINUTES] [--slack FACTOR] [--update-readme]
                            [--from RESULTS.json]

Each benchmark runs as a child process of this one (``python bench/<script> --json FILE``,
plus ``--quick`` in quick mode) under its own time budget: a child still running at its
budget is stopped (with everything it started) and recorded as timed out, and the whole
suite also stops starting benchmarks past ``--deadline`` (14.5 minutes by default, and the
last one gets only what is left, so a full run stays under 15 minutes on a 2-core CPU). The
machine ceiling runs first and again last (``ceiling-end``; the higher of the two counts,
so a neighbour's burst during one does not lower it): every row with ``gflops`` (a training
benchmark's achieved FLOP/s) gets its fraction of the matmul and conv 3x3 ceilings measured
in the same run. The ceiling is checked (:func:`ceiling_check`): a row that reads above it,
or a ceiling that did not scale over the cores, flags the *ceiling* in the output.
``bench_dcgan.py`` and ``bench_cyclegan.py`` run when they exist (same ``--json`` /
``--quick`` convention) and are noted as skipped otherwise.

Written (atomically: a temporary file, then a rename):

- ``<out>/<date>-<machine>.json``: the machine (CPU, cores, RAM, GPU, OS), library versions,
  date, git commit, and per benchmark its status, time, budget and rows;
- ``<out>/<date>-<machine>.md``: the same as a Markdown table (benchmark, artforge figure,
  reference figure, ratio, FLOP/s as a share of the ceiling, device);
- ``<out>/latest.json`` and ``<out>/latest.md``: copies of the two;
- quick mode writes ``...-quick.json`` / ``.md`` and ``latest-quick.*`` instead, so a smoke
  run never replaces real figures; ``bench_memory.py`` / ``profile_recipe.py`` also write
  ``<out>/profile-*.txt``.

``--update-readme`` rewrites the block between ``<!-- bench:begin -->`` and
``<!-- bench:end -->`` in README.md from the results; ``--from RESULTS.json`` renders the
Markdown (and the README block) from an earlier run without running anything.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, machine, machine_slug

BENCH = ROOT / "bench"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass
class Bench:
    name: str
    script: str
    budget: float  # seconds (full mode): the child is stopped past it
    quick_budget: float
    args: list[str] = field(default_factory=list)
    quick_args: list[str] = field(default_factory=list)
    what: str = ""
    optional: bool = False  # written by others: skipped with a note when absent
    soft_budget: bool = False  # takes --budget SECONDS: given 3/4 of its hard budget


# Budgets (hard, seconds: full, quick): what each needs on two quiet CPU cores, estimated
# from its CPU time on a shared machine, with margin. Expected full-mode wall times: ceiling
# 15, startup 15, scenes 5, pix2pix 40, sr 55, style 65, gallery 8, memory 190 (the default
# recipe end to end is most of it), profile 50, backends 170 (soft budget 3/4 of its hard
# one), dcgan ~110: about 12 minutes, leaving ~2.5 for cyclegan within the deadline; then
# recipe-gan (~100: a short and a long run per backend) and ceiling-end (~15), which the
# deadline cuts first. Order: the ceiling first (the FLOP/s fractions need it), the others'
# benchmarks last, the ceiling again at the very end.
SUITE = [
    Bench("ceiling", "bench_ceiling.py", 60, 60, what="fp32 matmul and conv 3x3 GFLOP/s"),
    Bench("startup", "bench_startup.py", 60, 60, what="CLI start-up"),
    Bench("scenes", "bench_scenes.py", 60, 60, what="synthetic scenes per second"),
    Bench("pix2pix", "bench_pix2pix.py", 150, 150, what="pix2pix training, paper + recipe size"),
    Bench("sr", "bench_sr.py", 150, 150, what="super-resolution inference MP/s and training"),
    Bench("style", "bench_style.py", 180, 180, what="Gatys L-BFGS 256/512, feed-forward"),
    Bench("gallery", "bench_gallery.py", 60, 60, what="gallery build"),
    Bench(
        "memory",
        "bench_memory.py",
        330,
        240,
        what="end to end night_to_day, peak RSS, bounded memory",
    ),
    Bench(
        "profile",
        "profile_recipe.py",
        150,
        120,
        what="profile of night_to_day: training vs I/O vs Python",
    ),
    Bench(
        "backends",
        "bench_backends.py",
        180,
        180,
        soft_budget=True,
        what="Keras / PyTorch time per iteration",
    ),
    Bench("dcgan", "bench_dcgan.py", 150, 90, what="DCGAN training", optional=True),
    Bench("cyclegan", "bench_cyclegan.py", 150, 90, what="CycleGAN training", optional=True),
    Bench(
        "recipe-gan",
        "bench_recipe_gan.py",
        180,
        150,
        what="train-gan through artforge run, Keras vs PyTorch it/s",
    ),
    Bench("ceiling-end", "bench_ceiling.py", 60, 60, what="the ceiling again, at the end"),
]
ALWAYS = ("ceiling", "ceiling-end")  # run whatever --only selects: the FLOP/s shares need them


# -- running --------------------------------------------------------------------------------
def run_bench(b: Bench, quick: bool, timeout: float, out_dir: Path, tmp: Path) -> dict:
    """Run one benchmark; its record (status, seconds, rows, log tail)."""
    script = BENCH / b.script
    rec: dict = {"name": b.name, "script": f"bench/{b.script}", "what": b.what}
    rec["budget_s"] = round(timeout, 1)
    if not script.exists():
        status = "skipped" if b.optional else "failed"
        rec.update(status=status, note=f"bench/{b.script} does not exist (yet)", seconds=0.0)
        return rec
    if timeout < 5:
        rec.update(status="skipped", note="the suite's deadline was reached", seconds=0.0)
        return rec
    json_path = tmp / f"{b.name}.json"
    cmd = [sys.executable, "-u", str(script), "--json", str(json_path)]
    if quick:
        cmd.append("--quick")
    cmd += b.quick_args if quick else b.args
    if b.soft_budget:
        cmd += ["--budget", f"{0.75 * timeout:.0f}"]
    if b.name == "profile":
        cmd += ["--out", str(out_dir)]
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the torch plugin sets for a run
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    print(f"\n=== {b.name}: {' '.join(cmd[2:])}  (budget {timeout:.0f} s)", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a timeout stops its workers too
    )
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(3)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, stop)
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            print(f"  [{b.name}] {line}", flush=True)
        _, status, usage = os.wait4(proc.pid, 0)  # its CPU time and peak memory too
        proc.returncode = os.waitstatus_to_exitcode(status)
    except KeyboardInterrupt:
        stop()
        raise
    finally:
        timer.cancel()
    rec["seconds"] = round(time.perf_counter() - t0, 1)
    rec["exit_status"] = proc.returncode
    # CPU seconds of the child and everything it waited for: on a loaded machine, CPU time
    # over the usable cores estimates the wall time the benchmark needs on a quiet one
    rec["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    rec["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    if json_path.exists():
        payload = json.loads(json_path.read_text())
        rec["title"] = payload.get("title", b.name)
        rec["device"] = payload.get("device", "")
        rec["rows"] = payload.get("rows", [])
    if timed_out.is_set():
        rec["status"] = "timed out"
        rec["note"] = f"stopped at its budget of {timeout:.0f} s"
    elif proc.returncode != 0:
        rec["status"] = "failed"
        rec["note"] = f"exit status {proc.returncode}"
    else:
        rec["status"] = "ok"
    if rec["status"] != "ok" or "rows" not in rec:
        rec["log_tail"] = "\n".join(lines[-40:])
        if rec["status"] == "ok":
            rec.update(status="failed", note="it wrote no JSON rows")
    return rec


def add_fractions(records: list[dict]) -> dict:
    """The ceiling of this run (per kind, the highest of its measurements); adds
    ``fraction_*`` to every row with ``gflops``."""
    ceiling: dict[str, float] = {}
    for rec in records:
        for row in rec.get("rows", []):
            kind = row.get("ceiling")
            if kind in ("matmul", "conv3x3"):
                ceiling[kind] = max(ceiling.get(kind, 0.0), float(row["value"]))
    for rec in records:
        for row in rec.get("rows", []):
            for key, out in (("gflops", "fraction"), ("reference_gflops", "reference_fraction")):
                if isinstance(row.get(key), (int, float)):
                    for c, v in ceiling.items():
                        if v > 0:
                            row[f"{out}_{c}"] = row[key] / v
    return ceiling


def ceiling_check(records: list[dict], ceiling: dict[str, float]) -> list[str]:
    """What is wrong with this run's ceiling, one line each (empty: nothing seen).

    A ceiling is the machine's peak, so a training loop reading above it (a ``fraction_*``
    above 1) proves the *ceiling* too low (measured while other work held cores, or on too
    few threads), not the loop too fast: every such row is listed and marked
    ``above_ceiling``. A ceiling measurement that ``bench_ceiling.py`` itself marked
    ``suspect`` (it did not scale over the cores) is listed too, unless a measurement
    without that mark set a higher ceiling."""
    if not ceiling:
        return ["no ceiling was measured in this run: no FLOP/s shares"]
    problems: list[str] = []
    for rec in records:
        for row in rec.get("rows", []):
            kind = row.get("ceiling")
            if row.get("suspect") and kind in ceiling and float(row["value"]) >= ceiling[kind]:
                problems.append(f"{rec['name']}: {row['name']} is suspect: {row['suspect']}")
    for rec in records:
        for row in rec.get("rows", []):
            above = []
            for prefix, who in (("fraction", ""), ("reference_fraction", "its reference ")):
                for kind in ceiling:
                    f = row.get(f"{prefix}_{kind}")
                    if isinstance(f, (int, float)) and f > 1.0:
                        above.append(f"{who}{100 * f:.0f}% of {kind}")
            if above:
                row["above_ceiling"] = True
                problems.append(
                    f"{rec['name']}: {row['name']} reads {', '.join(above)}: above the "
                    "ceiling, so the ceiling is too low (not the loop too fast)"
                )
    return problems


def git_state() -> dict:
    """The commit and whether the tree had changes (read-only git commands)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return {"commit": head or None, "modified": bool(dirty)}
    except OSError:
        return {"commit": None, "modified": None}


# -- rendering ------------------------------------------------------------------------------
def fmt(v: object) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "" if v is None else str(v)
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _flops_cell(row: dict, compact: bool = False) -> str:
    def part(prefix: str, g: str) -> str | None:
        conv, mm = row.get(f"{prefix}_conv3x3"), row.get(f"{prefix}_matmul")
        if conv is None and mm is None:
            return None
        bits = [f"{100 * conv:.0f}% conv" if conv is not None else None]
        bits.append(f"{100 * mm:.0f}% matmul" if mm is not None else None)
        return f"{fmt(row.get(g))} GFLOP/s = " + ", ".join(b for b in bits if b)

    a = part("fraction", "gflops")
    r = None if compact else part("reference_fraction", "reference_gflops")
    if a is None:
        return f"{fmt(row['gflops'])} GFLOP/s" if "gflops" in row else ""
    flag = " **above the ceiling: ceiling suspect**" if row.get("above_ceiling") else ""
    return a + (f" (ref. {r})" if r else "") + flag


def _device_cell(rec: dict, row: dict) -> str:
    dev = row.get("device") or rec.get("device") or ""
    return dev.split(" (")[0] if dev.startswith("cpu (") and "core" in dev else dev


def _reference_of(note: str | None) -> str | None:
    """What the reference is, from a note's ``reference: ...`` part."""
    m = re.search(r"reference: ([^;]+)", note or "")
    return m.group(1).strip() if m else None


def render_table(records: list[dict], compact: bool = False) -> list[str]:
    """One row per figure; ``compact`` (the README): no notes, the reference named in its
    cell, only artforge's FLOP/s share."""
    lines = [
        "| benchmark | artforge | reference (same run) | ratio | FLOP/s, share of ceiling | device |",
        "|---|---|---|---|---|---|",
    ]
    for rec in records:
        for row in rec.get("rows", []):
            unit = row.get("unit", "")
            value = f"{fmt(row.get('value'))} {unit}".strip()
            ref = ""
            if row.get("reference") is not None:
                ref = f"{fmt(row['reference'])} {row.get('reference_unit', unit)}".strip()
            ratio = fmt(row.get("ratio"))
            if row.get("ratio_quartiles"):
                q1, q3 = row["ratio_quartiles"]
                ratio += f" (IQR {q1:.2f}-{q3:.2f})"
            name = f"{rec['name']}: {row.get('name', '')}"
            note = row.get("note")
            if compact:
                what = _reference_of(note)
                if ref and what:
                    ref += f" ({what})"
            elif note:
                name += f" <br><sub>{note}</sub>"
            cells = [name, value, ref, ratio, _flops_cell(row, compact), _device_cell(rec, row)]
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def render_md(results: dict) -> str:
    m = results["machine"]
    mode = "QUICK smoke run: not representative figures" if results["quick"] else "full run"
    ceil = results.get("ceiling", {})
    lines = [
        f"# artforge benchmarks, {results['date'][:16].replace('T', ' ')} ({mode})",
        "",
        f"- machine: {m.get('processor')}, {m.get('cpus')} logical CPUs "
        f"({m.get('usable_cores')} usable), {m.get('ram_gb')} GB RAM, "
        f"GPU: {m.get('gpu') or 'none'}; {m.get('os')}",
        f"- versions: python {m.get('python')}, torch {m.get('torch')}, tensorflow "
        f"{m.get('tensorflow')}, keras {m.get('keras')}, numpy {m.get('numpy')}, "
        f"pillow {m.get('pillow')}",
        *(
            [f"- thread limits in the environment: {m['thread_env']}"]
            if m.get("thread_env")
            else []
        ),
        f"- commit: {results.get('git', {}).get('commit')}"
        + (" (with uncommitted changes)" if results.get("git", {}).get("modified") else ""),
        f"- suite time: {results['suite_seconds']:.0f} s"
        + f" (deadline {results['deadline_s']:.0f} s)",
        "- ceiling (this run): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in ceil.items())
        + " — training rows give their achieved FLOP/s as a share of it",
        *_check_lines(results),
        "",
        *render_table(results["benchmarks"]),
        "",
        "## Suite",
        "",
        "| benchmark | script | status | wall time | CPU time | cores busy | budget | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rec in results["benchmarks"]:
        wall, cpu = rec.get("seconds", 0) or 0, rec.get("cpu_s", 0) or 0
        busy = f"{cpu / wall:.2f}" if wall > 0 else ""  # CPU seconds per wall second
        lines.append(
            f"| {rec['name']} | `{rec['script']}` | {rec['status']} | {wall:.0f} s"
            f" | {cpu:.0f} s | {busy} | {rec.get('budget_s', 0):.0f} s"
            f" | {rec.get('note', '')} |"
        )
    for rec in results["benchmarks"]:
        if rec.get("log_tail"):
            lines += ["", f"### {rec['name']}: {rec['status']}, last lines", "", "```"]
            lines += [rec["log_tail"], "```"]
    return "\n".join(lines) + "\n"


def _check_lines(results: dict) -> list[str]:
    problems = results.get("ceiling_check")
    if problems is None:
        return []
    if not problems:
        return ["- ceiling check: ok (it scaled over the cores; no row reads above it)"]
    return ["- **ceiling check: SUSPECT** (the shares of it read too high):"] + [
        f"  - {p}" for p in problems
    ]


def readme_block(results: dict, source: str) -> str:
    """The README's benchmark block: the summary line, the table, profile and memory lines."""
    m = results["machine"]
    when = results["date"][:10]
    head = (
        f"Figures from `{source}` ({'quick smoke run' if results['quick'] else 'full run'}, "
        f"{when}): {m.get('processor')}, {m.get('usable_cores')} cores, "
        f"{m.get('ram_gb')} GB, GPU: {m.get('gpu') or 'none'}; torch {m.get('torch')}, "
        f"tensorflow {m.get('tensorflow')}, keras {m.get('keras')}; suite "
        f"{results['suite_seconds'] / 60:.1f} min. The notes behind each figure (what the "
        f"reference is, rounds, quartiles) are in `{Path(source).with_suffix('.md')}`."
    )
    check = _check_lines(results)
    lines = [BEGIN, head, "", *check, *([""] if check else [])]
    lines += [*render_table(results["benchmarks"], compact=True), ""]
    prof = next((r for r in results["benchmarks"] if r["name"] == "profile"), None)
    if prof and prof.get("rows"):
        vals = {r["name"]: r["value"] for r in prof["rows"]}
        lines.append(
            "Profile of the main recipe (`bench/profile_recipe.py`, cProfile, report in "
            "`bench/results/profile-*.txt`): training loops "
            f"{vals.get('training loops', 0):.0f}% of the wall time, I/O (image "
            f"decode/encode, PNG and checkpoint writes) "
            f"{vals.get('I/O (image codec, file reads/writes)', 0):.0f}%, Python "
            f"overhead {vals.get('Python overhead', 0):.0f}% (an upper bound: cProfile "
            f"slows Python calls), imports and start-up "
            f"{vals.get('imports and start-up', 0):.0f}%."
        )
        lines.append("")
    skipped = [r for r in results["benchmarks"] if r["status"] != "ok"]
    if skipped:
        lines.append(
            "Not measured in this run: "
            + "; ".join(f"{r['name']} ({r['status']}: {r.get('note', '')})" for r in skipped)
            + "."
        )
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def update_readme(results: dict, source: str) -> None:
    from artforge.atomic import write_text

    text = README.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"README.md has no {BEGIN} ... {END} block to rewrite")
    a, b = text.index(BEGIN), text.index(END) + len(END)
    write_text(README, text[:a] + readme_block(results, source) + text[b:])
    print(f"README.md: benchmark block rewritten from {source}")


# -- main -----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke mode of every benchmark")
    ap.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    names = [b.name for b in SUITE]
    ap.add_argument("--only", nargs="*", choices=names, help="run only these (the ceiling always)")
    ap.add_argument("--skip", nargs="*", choices=names, default=[], help="leave these out")
    ap.add_argument(
        "--deadline", type=float, default=14.5, help="minutes for the whole suite (default 14.5)"
    )
    ap.add_argument(
        "--slack",
        type=float,
        default=1.0,
        help="multiply every budget and the deadline (e.g. 3 on a heavily shared machine)",
    )
    ap.add_argument("--update-readme", action="store_true", help="rewrite README's bench block")
    ap.add_argument("--from", dest="source", type=Path, help="render an earlier results file")
    args = ap.parse_args()
    from artforge.atomic import write_json, write_text

    if args.source:
        results = json.loads(args.source.read_text())
        if "ceiling_check" not in results:  # a results file from before the check
            results["ceiling_check"] = ceiling_check(
                results["benchmarks"], results.get("ceiling", {})
            )
        out = args.source.with_suffix(".md")
        write_text(out, render_md(results))
        print(f"written: {out}")
        if args.update_readme:
            update_readme(results, _rel(args.source))
        return

    start = time.perf_counter()
    deadline = start + args.deadline * 60 * args.slack
    info = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    selected = [
        b
        for b in SUITE
        if b.name not in args.skip and (not args.only or b.name in args.only or b.name in ALWAYS)
    ]
    records = []
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        for b in selected:
            budget = (b.quick_budget if args.quick else b.budget) * args.slack
            left = deadline - time.perf_counter()
            rec = run_bench(b, args.quick, min(budget, left), args.out, Path(tmp))
            records.append(rec)
            print(f"=== {b.name}: {rec['status']} in {rec.get('seconds', 0):.0f} s", flush=True)
    ceiling = add_fractions(records)
    check = ceiling_check(records, ceiling)
    for line in check:
        print(f"CEILING SUSPECT: {line}", flush=True)
    now = datetime.datetime.now()
    results = {
        "date": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": info,
        "git": git_state(),
        "suite_seconds": round(time.perf_counter() - start, 1),
        "deadline_s": args.deadline * 60 * args.slack,
        "slack": args.slack,
        "ceiling": ceiling,
        "ceiling_check": check,
        "benchmarks": records,
    }
    stem = f"{now:%Y-%m-%d}-{machine_slug(info)}" + ("-quick" if args.quick else "")
    latest = "latest-quick" if args.quick else "latest"
    md = render_md(results)
    for name in (stem, latest):
        write_json(args.out / f"{name}.json", results)
        write_text(args.out / f"{name}.md", md)
    print("\n" + md)
    print(f"written: {args.out / stem}.json/.md and {args.out / latest}.json/.md")
    print(f"suite time: {results['suite_seconds']:.0f} s")
    if args.update_readme:
        update_readme(results, _rel(args.out / f"{stem}.json"))
    if any(r["status"] in ("failed", "timed out") for r in records):
        sys.exit(1)


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


if __name__ == "__main__":
    main()
