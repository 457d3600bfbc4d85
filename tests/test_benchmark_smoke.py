"""The benchmark scripts run (tiny counts: a smoke run, not a measurement; no timing asserted)."""

from __future__ import annotations

import json
import math
import os
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
    sections = {"success", "async", "rejection", "failure", "threads", "http", "scale"}
    assert set(data["sections"]) == sections
    assert data["quick"] is True
    for section in data["sections"].values():
        assert section["results"] and all(
            math.isfinite(v) and v > 0 for v in section["results"].values()
        )
    assert "functools.partial(target)" in data["sections"]["success"]["results"]
    # A ratio is None where a --quick run measured an overhead at or below zero (noise).
    assert len(data["ratios"]) == 21
    assert all(v is None or math.isfinite(v) for v in data["ratios"].values())
    for label in (
        "decorated overhead: fastbreaker / functools.partial",
        "decorated overhead: fastbreaker / no-op decorator",
        "decorated overhead: call counters on / off",
        "decorated overhead: 30 s failure-rate window / none",
        "async overhead: fastbreaker / no-op async def wrapper",
        "async overhead: fastbreaker / circuitbreaker",
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
    keys = {"bare", "partial", "noop", "decorated", "uncounted", "call", "rejected", "failure"}
    keys |= {"windowed", "windowed_calls"}
    keys |= {"bare_failure", "async_bare", "async_noop", "async_decorated"}
    assert set(data["per_iteration"]) == set(data["beyond_bare_call"]) == keys
    assert all(v > 0 for v in data["per_iteration"].values())  # instructions, not time
    assert data["fastbreaker"].endswith("__init__.py")
    assert "decorated / functools.partial" in data["ratios"]
    assert "decorated / functools.partial" in result.stdout
    assert "fastbreaker decorated, success" in result.stdout


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
@pytest.mark.timeout(300)
def test_the_http_callgrind_benchmark_counts_every_client(tmp_path):
    pytest.importorskip("httpx")
    out = tmp_path / "http_callgrind.json"
    result = run_quick(BENCHMARKS / "http_callgrind.py", "--json", str(out), timeout=290)
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["requests"] == 5
    keys = {"session", "session_timeout", "adapter", "protected", "client", "transport"}
    assert set(data["per_request"]) == set(data["fixed"]) == keys
    assert all(v > 0 for v in data["per_request"].values())  # instructions, not time
    assert data["fastbreaker"].endswith("__init__.py")
    assert len(data["overheads"]) == 4
    for name, values in data["overheads"].items():
        assert name in result.stdout
        assert set(values) == {"beyond_bare", "ratio"} and values["ratio"] > 0
    assert "Client + CircuitBreakerTransport / httpx.Client().get" in data["overheads"]


@pytest.mark.timeout(180)
def test_the_redis_store_benchmark_reports_every_section(tmp_path):
    pytest.importorskip("pybreaker")
    pytest.importorskip("redis")  # the client pybreaker's CircuitRedisStorage needs
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install it (.ci/run does)")
        pytest.skip(message)
    out = tmp_path / "redis_store.json"
    result = run_quick(BENCHMARKS / "redis_store.py", "--json", str(out), timeout=170)
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert set(data["sections"]) == {"success", "rejection", "failure", "propagation"}
    for name in ("success", "rejection", "failure"):
        results = data["sections"][name]["results"]
        assert len(results) >= 4 and all(math.isfinite(v) and v > 0 for v in results.values())
    assert "pybreaker+Redis, decorated" in data["sections"]["success"]["results"]
    # Redis answered throughout: the "Redis" rows did not measure a fallback to memory.
    notes = [note for section in data["sections"].values() for note in section["notes"]]
    assert not [note for note in notes if note.startswith("warning")], notes
    # Every polling process saw every opening (3 rounds x 7 processes), whatever the latency.
    propagation = data["sections"]["propagation"]
    assert set(propagation["results"]) == {"p50", "p99", "max", "min"}
    assert all(math.isfinite(v) for v in propagation["results"].values())
    assert (
        propagation["notes"][0].startswith("21 samples")
        and "; 0 not rejected" in (propagation["notes"][0])
    ), propagation["notes"]
    assert len(data["ratios"]) == 8
    assert all(v is None or math.isfinite(v) for v in data["ratios"].values())
    assert "fastbreaker+Redis / pybreaker+Redis" in result.stdout
    assert "propagation of an opening to 7 other processes" in result.stdout
