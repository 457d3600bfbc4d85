"""The benchmark scripts run (tiny counts: a smoke run, not a measurement; no timing asserted)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
SCRIPT = BENCHMARKS / "overhead.py"


def run_quick(script: Path, *args: str, timeout: float = 110) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.timeout(120)
def test_the_benchmark_runs_and_reports_every_section(tmp_path):
    out = tmp_path / "results.json"
    result = run_quick(SCRIPT, "--json", str(out))
    data = json.loads(out.read_text())
    assert set(data["sections"]) == {"success", "rejection", "failure", "threads", "http", "scale"}
    assert data["quick"] is True
    for section in data["sections"].values():
        assert section["results"] and all(
            math.isfinite(v) and v > 0 for v in section["results"].values()
        )
    assert "functools.partial(target)" in data["sections"]["success"]["results"]
    # A ratio is None where a --quick run measured an overhead at or below zero (noise).
    assert len(data["ratios"]) == 14
    assert all(v is None or math.isfinite(v) for v in data["ratios"].values())
    for label in (
        "decorated overhead: fastbreaker / functools.partial",
        "decorated overhead: fastbreaker / no-op decorator",
    ):
        assert label in data["ratios"] and label in result.stdout
    assert "ratios" in result.stdout and "fastbreaker decorated" in result.stdout


@pytest.mark.timeout(120)
def test_the_memory_benchmark_reports_every_kind_of_call(tmp_path):
    out = tmp_path / "memory.json"
    result = run_quick(BENCHMARKS / "memory.py", "--json", str(out))
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["calls"] == 2_000
    assert len(data["results"]) == 9
    for kind, measured in data["results"].items():
        assert kind in result.stdout
        assert set(measured) == {
            "rss_growth_bytes",
            "rss_growth_bytes_per_call",
            "allocated_blocks_change",
            "tracked_objects_change",
            "peak_rss_bytes",
        }
    assert "RSS growth" in result.stdout


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
@pytest.mark.timeout(300)
def test_the_callgrind_benchmark_counts_every_variant(tmp_path):
    out = tmp_path / "callgrind.json"
    result = run_quick(BENCHMARKS / "callgrind.py", "--json", str(out), timeout=290)
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["calls"] == 2_000
    keys = {"bare", "partial", "noop", "decorated", "call", "rejected", "failure", "bare_failure"}
    assert set(data["per_iteration"]) == set(data["beyond_bare_call"]) == keys
    assert all(v > 0 for v in data["per_iteration"].values())  # instructions, not time
    assert data["fastbreaker"].endswith("__init__.py")
    assert "decorated / functools.partial" in data["ratios"]
    assert "decorated / functools.partial" in result.stdout
    assert "fastbreaker decorated, success" in result.stdout
