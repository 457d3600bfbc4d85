"""The README's examples: every Python block runs as written (with a loopback service in place
of api.example.com), and the runnable examples print what their comments say."""

from __future__ import annotations

import builtins
import re
import symtable
from pathlib import Path
from typing import Any, Dict, Set

import pytest
from fastbreaker import get_circuit_breaker

README = (Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
# Each block with the line it starts on, to name it.
NUMBERED = [
    (README.count("\n", 0, match.start()) + 1, match.group(1))
    for match in re.finditer(r"```python\n(.*?)```", README, re.S)
]


def run_block(block: str, origin: str = "https://api.example.com") -> Dict[str, Any]:
    """Runs a README block as a script of its own, talking to `origin` instead of the example's
    service; returns its namespace."""
    namespace: Dict[str, Any] = {"__name__": "__main__"}
    code = block.replace("https://api.example.com", origin)
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def undefined_names(block: str) -> Set[str]:
    """Names a block reads but neither defines nor imports (and Python does not provide): what
    raises NameError, even on a path that a run does not take, such as an `except` clause."""
    top = symtable.symtable(block, "README.md", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used: Set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (table is top or symbol.is_global()):
                used.add(symbol.get_name())
    return used - defined - set(dir(builtins))


BLOCK_IDS = [f"line{n}" for n, _ in NUMBERED]


@pytest.mark.parametrize("block", [b for _, b in NUMBERED], ids=BLOCK_IDS)
def test_every_python_block_runs_as_written(block, service):
    run_block(block, service.origin)


@pytest.mark.parametrize("block", [b for _, b in NUMBERED], ids=BLOCK_IDS)
def test_every_python_block_defines_the_names_it_uses(block):
    assert undefined_names(block) == set()


def block_containing(text: str) -> str:
    [block] = [b for b in BLOCKS if text in b]
    return block


def test_the_example_runs_and_prints_what_it_says(capsys):
    exec(
        compile(block_containing("def charge(amount)"), "README.md", "exec"),
        {"__name__": "__main__"},
    )
    assert capsys.readouterr().out.splitlines() == [
        "failed",
        "failed",
        "rejected, retry in 30s",
        "open",
        "{'id': 7} __main__.load_profile",
    ]


def test_the_manual_clock_example_passes():
    namespace: dict = {}
    exec(
        compile(block_containing("def test_recovers_after_timeout"), "README.md", "exec"), namespace
    )
    namespace["test_recovers_after_timeout"]()


def test_the_readme_opens_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = first_block.group(1).strip().splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("python -m fastbreaker demo")
    assert commands[1].endswith("python -m pytest")


def test_the_listener_example_prints_what_it_says(capsys):
    exec(compile(block_containing("def page_on_open"), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == ["search opened (forced) after 0 failures"]


def test_the_http_example_handles_each_outcome(services, capsys):
    # Each `except` clause is reached (its names are looked up only then): an answer, a failure,
    # a rejection.
    block = block_containing("protected_post(")
    up, failing, rejecting = services(3)
    run_block(block, up.origin)
    failing.status = 503  # requests.HTTPError, a RequestException
    run_block(block, failing.origin)
    get_circuit_breaker(rejecting.origin).open()  # CircuitBreakerError: nothing is sent
    run_block(block, rejecting.origin)
    assert capsys.readouterr().out == "closed\nclosed\nopen\n"
    assert [r["path"] for r in up.requests + failing.requests] == ["/match", "/match"]
    assert rejecting.hits == 0


def test_the_health_examples_serve_the_endpoint():
    from starlette.testclient import TestClient

    flask_app = run_block(block_containing("DispatcherMiddleware"))["app"]
    response = flask_app.test_client().get("/health/circuit-breakers")
    assert response.status_code == 200 and "circuit_breakers" in response.get_json()
    starlette_app = run_block(block_containing("Mount("))["app"]
    with TestClient(starlette_app) as client:
        response = client.get("/health/circuit-breakers")
        assert response.status_code == 200 and "circuit_breakers" in response.json()
