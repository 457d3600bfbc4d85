"""The pytest plugin (`fastbreaker.pytest_plugin`): its fixtures, exercised in pytest sessions of
their own (`pytester`, in a subprocess: the registry and the clock are process-wide), where it is
loaded as installing fastbreaker makes pytest load it, through the `pytest11` entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution

import fastbreaker.pytest_plugin
import pytest

# pytester's fixture, loaded when this module is collected rather than for every test from
# tests/conftest.py.
pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    """Runs `source` as a test module in a pytest process of its own, in file order, with
    warnings as errors; the plugin comes in through its entry point."""
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def test_the_entry_point_is_declared():
    entry_points = [
        entry_point
        for entry_point in distribution("fastbreaker").entry_points
        if entry_point.group == "pytest11"
    ]
    assert [(entry_point.name, entry_point.value) for entry_point in entry_points] == [
        ("fastbreaker", "fastbreaker.pytest_plugin")
    ], "the installed fastbreaker predates its pytest11 entry point: reinstall it"
    assert entry_points[0].load() is fastbreaker.pytest_plugin


def test_pytest_loads_it_by_its_entry_point_name(pytester):
    source = """
        import fastbreaker.pytest_plugin
        from fastbreaker.pytest_plugin import BreakerRegistry
        from fastbreaker.testing import ManualClock

        def test_fixtures(request, breaker_registry, manual_clock):
            plugin = request.config.pluginmanager.get_plugin("fastbreaker")
            assert plugin is fastbreaker.pytest_plugin
            assert isinstance(breaker_registry, BreakerRegistry)
            assert isinstance(manual_clock, ManualClock)
    """
    run(pytester, source).assert_outcomes(passed=1)
    # `-p no:fastbreaker` turns it off (its fixtures are then unknown).
    result = run(pytester, source, "-p", "no:fastbreaker")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'breaker_registry' not found*"])


def test_importing_the_plugin_imports_nothing_more():
    # pytest imports it at startup in every project where fastbreaker is installed.
    code = (
        "import sys, pytest, fastbreaker; before = set(sys.modules);"
        "import fastbreaker.pytest_plugin; print(sorted(set(sys.modules) - before))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "['fastbreaker.pytest_plugin']"


REGISTRY_TESTS = """
    import pytest
    from fastbreaker import _core, get_circuit_breaker, get_circuit_breaker_status

    # Registered before any test: the registry as the fixture finds it.
    PAYMENTS = get_circuit_breaker("payments", failure_threshold=1)
    BEFORE = _core._registry_snapshot()
    KEPT = {}


    def test_a_test_without_the_fixture_opens_a_circuit():
        PAYMENTS.open()


    def test_the_fixture_resets_it_at_the_start(breaker_registry):
        assert PAYMENTS.state == "closed"
        assert breaker_registry["payments"] is PAYMENTS  # still registered, still visible


    def test_a_test_registers_and_opens(breaker_registry):
        orders = get_circuit_breaker("orders", failure_threshold=1)
        orders.open()
        PAYMENTS.open()
        KEPT["orders"] = orders  # what an adapter or a module global would keep
        assert breaker_registry["orders"] is orders
        assert breaker_registry.get("nope") is None and "nope" not in breaker_registry
        assert sorted(breaker_registry) == ["orders", "payments"] and len(breaker_registry) == 2
        statuses = breaker_registry.statuses()
        assert (statuses["orders"]["state"], statuses["payments"]["state"]) == ("open", "open")


    def test_afterwards_the_registry_is_as_before_and_closed():
        after = _core._registry_snapshot()
        assert after.keys() == BEFORE.keys()
        assert all(after[name] is BEFORE[name] for name in BEFORE)  # the same objects
        assert PAYMENTS.state == "closed"
        assert get_circuit_breaker_status("orders") is None
        # The dropped breaker still works for whoever kept it, reset; the registry makes a new one.
        assert KEPT["orders"].state == "closed"
        assert get_circuit_breaker("orders") is not KEPT["orders"]


    def test_a_failing_test_with_the_fixture(breaker_registry):
        get_circuit_breaker("inventory").open()
        PAYMENTS.open()
        raise AssertionError("this test fails")


    def test_its_breakers_are_gone_too():
        assert get_circuit_breaker_status("inventory") is None
        assert PAYMENTS.state == "closed"


    def test_without_the_fixture_a_circuit_opened_here(request):
        assert "breaker_registry" not in request.fixturenames
        get_circuit_breaker("search").open()
        PAYMENTS.open()


    def test_stays_open_and_registered_in_the_next_test_without_it():
        assert get_circuit_breaker_status("search")["state"] == "open"
        assert PAYMENTS.state == "open"
"""


def test_breaker_registry_isolates_each_test_that_uses_it(pytester):
    result = run(pytester, REGISTRY_TESTS, "-v")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(["*::test_a_failing_test_with_the_fixture FAILED*"])


CLOCK_TESTS = """
    import pytest
    from fastbreaker import CircuitBreaker, get_circuit_breaker
    from fastbreaker.testing import ManualClock, manual_clock as manual_clock_block


    def test_recovery_without_sleeping(manual_clock):
        assert isinstance(manual_clock, ManualClock)
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=3600, success_threshold=1)
        breaker.open()
        manual_clock.advance(3599)
        assert breaker.state == "open"
        assert breaker.get_status()["retry_after"] == 1.0
        manual_clock.advance(1)
        assert breaker.state == "half_open"
        breaker.call(lambda: None)
        assert breaker.state == "closed"


    def test_the_clock_is_released_after_the_test():
        # Manual clocks do not nest: this raises while the fixture's is still active.
        with manual_clock_block() as clock:
            clock.advance(1)


    def test_with_the_registry_too(breaker_registry, manual_clock):
        breaker = get_circuit_breaker("payments", recovery_timeout=60)
        breaker.open()
        manual_clock.advance(60)
        assert breaker_registry.statuses()["payments"]["state"] == "half_open"
"""


def test_manual_clock_drives_recovery_and_is_released(pytester):
    run(pytester, CLOCK_TESTS).assert_outcomes(passed=3)
