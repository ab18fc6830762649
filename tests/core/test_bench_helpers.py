"""The benchmark helpers of bench/common.py and bench/run_all.py: alternation of a pair, the
median of per-round ratios, and the ceiling's sanity checks (no torch, no timing noise: a
fake clock)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import run_all  # noqa: E402


class FakeClock:
    """A clock that each benchmarked call advances by its own cost."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, seconds: float, log: list, name: str):
        def call():
            log.append(name)
            self.now += seconds

        return call


def test_alternate_rounds_takes_turns_and_times_each_side():
    clock, log = FakeClock(), []
    a_times, b_times = common.alternate_rounds(
        clock.spend(2.0, log, "a"), clock.spend(1.0, log, "b"), 4, warmup=1, clock=clock
    )
    # warm-up of each, then AB, BA, AB, BA: neither side always goes first
    assert log == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]
    assert a_times == [2.0] * 4 and b_times == [1.0] * 4


def test_alternate_rounds_stops_at_the_budget_after_min_rounds():
    clock, log = FakeClock(), []
    a_times, b_times = common.alternate_rounds(
        clock.spend(1.0, log, "a"),
        clock.spend(1.0, log, "b"),
        100,
        warmup=0,
        budget=5.0,
        min_rounds=4,
        clock=clock,
    )
    assert len(a_times) == len(b_times) == 4  # 8 s spent after 4 rounds, past the budget


def test_paired_ratio_is_the_median_of_per_round_ratios():
    # a load burst hits round 3 on both sides: the per-round ratios stay 0.5, while the
    # ratio of the two medians would not if the burst had hit one side only
    a = [1.0, 1.0, 4.0, 1.0, 1.0]
    b = [2.0, 2.0, 8.0, 2.0, 2.0]
    p = common.paired(a, b)
    assert p["ratio"] == pytest.approx(0.5) and p["rounds"] == 5
    # one side slowed in most rounds: the medians of the sides disagree with the pairing
    a = [1.0, 3.0, 3.0, 3.0]
    b = [2.0, 6.0, 6.0, 2.0]
    p = common.paired(a, b)
    assert p["ratio"] == pytest.approx(0.5)
    assert p["a"] / p["b"] == pytest.approx(0.75)
    with pytest.raises(ValueError):
        common.paired([1.0], [1.0, 2.0])


def test_paired_row_rates_and_times():
    row = common.paired_row(
        "x", [0.5, 0.5, 0.5], [1.0, 1.0, 1.0], unit="it/s", reference="plain loop", work=10
    )
    assert row["value"] == pytest.approx(20.0) and row["reference"] == pytest.approx(10.0)
    assert row["ratio"] == pytest.approx(2.0)  # a rate: above 1, artforge faster
    assert "reference: plain loop" in row["note"] and "3 alternating rounds" in row["note"]
    row = common.paired_row(
        "y", [0.3, 0.3], [0.1, 0.1], unit="ms", reference="python", rate=False, scale=1000
    )
    assert row["value"] == pytest.approx(300.0) and row["ratio"] == pytest.approx(3.0)


def test_alternate_rows_uses_per_round_ratios_and_drops_an_unpaired_round():
    m = {
        "plugin_rounds": [1.0, 1.0, 3.0, 0.4],  # the last round has no reference partner
        "ref_rounds": [1.0, 1.0, 3.0],
        "flops": 0,
        "t_ckpt": 0.1,
        "ckpt_mb": 1.0,
    }
    row = common.alternate_rows(m, "train", "label", chunk=1)[0]
    assert row["ratio"] == pytest.approx(1.0)
    assert "3 alternating rounds" in row["note"]


@pytest.mark.parametrize(
    ("speedup", "busy", "threads", "cores", "suspect"),
    [
        (1.9, 1.95, 2, 2, False),  # two cores that scale: trusted
        (1.01, 1.9, 2, 2, True),  # the 173 vs 171 GFLOP/s
        (1.8, 1.0, 2, 2, True),  # fast, but the process had one core's CPU time
        (3.0, 3.5, 16, 16, True),  # 16 cores giving 3x: not the machine's peak
        (1.0, 1.0, 1, 2, True),  # measured on one thread only
        (1.0, 1.0, 1, 1, False),  # a one-core machine: one core is its ceiling
    ],
)
def test_scaling_verdict(speedup, busy, threads, cores, suspect):
    verdict = common.scaling_verdict(speedup, busy, threads, cores)
    assert (verdict is not None) == suspect


def _records(ceiling_value: float, gflops: float, suspect: str | None = None) -> list[dict]:
    ceil = {"name": "matmul", "value": ceiling_value, "ceiling": "matmul"}
    if suspect:
        ceil["suspect"] = suspect
    return [
        {"name": "ceiling", "rows": [ceil]},
        {"name": "dcgan", "rows": [{"name": "train", "gflops": gflops, "reference_gflops": 10}]},
    ]


def test_ceiling_check_flags_the_ceiling_when_a_loop_reads_above_it():
    records = _records(172.0, 195.0)
    ceiling = run_all.add_fractions(records)
    problems = run_all.ceiling_check(records, ceiling)
    assert len(problems) == 1
    assert "113% of matmul" in problems[0] and "ceiling is too low" in problems[0]
    row = records[1]["rows"][0]
    assert row["above_ceiling"] is True
    assert "ceiling suspect" in run_all._flops_cell(row)


def test_ceiling_check_passes_a_sound_ceiling_and_takes_the_best_measurement():
    records = _records(150.0, 160.0)
    # measured again at the end of the suite, higher: that one counts
    records.append(
        {"name": "ceiling-end", "rows": [{"name": "mm", "value": 180.0, "ceiling": "matmul"}]}
    )
    ceiling = run_all.add_fractions(records)
    assert ceiling == {"matmul": 180.0}
    assert run_all.ceiling_check(records, ceiling) == []
    assert "above_ceiling" not in records[1]["rows"][0]


def test_ceiling_check_reports_a_ceiling_that_did_not_scale():
    records = _records(172.0, 100.0, suspect="2 threads ran only 1.01x as fast as 1")
    problems = run_all.ceiling_check(records, run_all.add_fractions(records))
    assert len(problems) == 1 and "1.01x" in problems[0]
    assert run_all.ceiling_check([{"name": "x", "rows": []}], {}) != []  # no ceiling at all


def test_the_results_page_and_readme_block_show_the_ceiling_check():
    records = _records(172.0, 195.0)
    for rec in records:
        rec.update(script=f"bench/{rec['name']}.py", status="ok", seconds=1.0)
    ceiling = run_all.add_fractions(records)
    results = {
        "date": "2026-12-07T19:00:00",
        "quick": True,
        "machine": {"processor": "cpu", "usable_cores": 2},
        "git": {},
        "suite_seconds": 10.0,
        "deadline_s": 870.0,
        "ceiling": ceiling,
        "ceiling_check": run_all.ceiling_check(records, ceiling),
        "benchmarks": records,
    }
    page = run_all.render_md(results)
    assert "ceiling check: SUSPECT" in page and "113% of matmul" in page
    assert "above the ceiling: ceiling suspect" in page  # the row's own cell
    block = run_all.readme_block(results, "bench/results/x.json")
    assert "ceiling check: SUSPECT" in block
    results["ceiling_check"] = []
    assert "ceiling check: ok" in run_all.render_md(results)
