"""The benchmark script runs (tiny counts: a smoke run, not a measurement; no timing asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "overhead.py"


@pytest.mark.timeout(120)
def test_the_benchmark_runs_and_reports_every_section(tmp_path):
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert set(data["sections"]) == {"success", "rejection", "failure", "threads", "http", "scale"}
    assert data["quick"] is True
    for section in data["sections"].values():
        assert section["results"] and all(
            math.isfinite(v) and v > 0 for v in section["results"].values()
        )
    assert len(data["ratios"]) == 13 and all(v > 0 for v in data["ratios"].values())
    assert "ratios" in result.stdout and "fastbreaker decorated" in result.stdout
