"""benchmarks/http_clients.py runs (tiny counts: a smoke run, not a measurement; no timing is
asserted, the ratios are only reported)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "http_clients.py"


@pytest.mark.timeout(120)
def test_the_http_clients_benchmark_reports_every_client_and_ratio(tmp_path):
    out = tmp_path / "http.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["quick"] is True
    assert set(data["sections"]) == {"requests", "httpx", "httpx_async"}
    for section in data["sections"].values():
        assert len(section["results"]) >= 2
        assert all(math.isfinite(v) and v > 0 for v in section["results"].values())
    assert set(data["ratios"]) == {
        "Session + CircuitBreakerAdapter / requests.Session",
        "protected_get / requests.Session",
        "Client + CircuitBreakerTransport / httpx.Client",
        "AsyncClient + AsyncCircuitBreakerTransport / httpx.AsyncClient",
    }
    assert all(math.isfinite(v) and v > 0 for v in data["ratios"].values())
    for label in data["ratios"]:
        assert label in result.stdout
