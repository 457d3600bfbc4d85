"""Instructions per call, counted by callgrind: fastbreaker against functools.partial and a no-op
Python decorator, on the same interpreter. No timing, so no noise from the machine.

    python benchmarks/callgrind.py [--python PYTHON] [--pythonpath DIR] [--calls N] [--json FILE]

Each variant is a small child program that builds its callable and runs `loop(n)`: n calls of
`g(x)` inside `try/except` (a `try` costs nothing in CPython 3.11+ unless something is raised, so
every variant has the same loop around its call). The loop iterates over
`itertools.repeat(None, n)`, not `range(n)`: range allocates an int per iteration above 256, at a
cost that is not quite the same for every value. Every child runs under
`valgrind --tool=callgrind` with PYTHONHASHSEED=0 and the garbage collector off (a collection
would land at a different iteration in each run).

How the per-call count is made exact. The child runs, in one process:

    loop(N)        warm-up: specialises the bytecode, fills the allocator's pools
    os.getppid()   callgrind dumps its counts here (--dump-before=getppid)
    loop(N)        part A
    os.getppid()
    loop(2N)       part B
    os.getppid()

A and B contain the same fixed instructions (the call of `loop`, the call of `os.getppid`), so

    (Ir(B) - Ir(A)) / N

is the instructions of exactly one steady-state iteration. Not baseline subtraction of whole
programs (the variants import and warm up different code, and those differences would be spread
over the calls), and not two programs run with N and 2N calls (their start-ups only match if no
file they import changes in between: an editable install being edited, a .pyc written by another
process). Repeated identical parts still differ by a few hundred instructions in all (not per
call), so at the default N = 200,000 the figures are exact to the one decimal shown, and a second
run prints the same table. One caveat when comparing two builds: the rows that raise depend a
little on the process's memory layout, which PYTHONPATH and the import paths change (the bare
raising call, which involves no fastbreaker code, moved by about 10 instructions in 3,460 between
the installed package and a copy on --pythonpath). The success rows did not move.

"Beyond the bare call" is a variant's per-iteration count minus that of the bare `f(x)` loop:
what the wrapper adds.

`--pythonpath DIR` puts DIR first on the children's PYTHONPATH, so that another build of the
package (for instance a copy of the previous one) can be compared with the installed one on the
same interpreter. Each child reports the `fastbreaker` it imported; the table shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from _common import callgrind_per_iteration

CHILD = r"""
import functools, gc, itertools, os, sys
import fastbreaker
from fastbreaker import CircuitBreaker, CircuitBreakerError

def f(x):
    return x

def failing(x):
    raise ValueError(x)

def noop_decorator(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper

def uncounted():
    fastbreaker._core._set_call_counting(False)  # the call counters' cost, by difference
    return CircuitBreaker(failure_threshold=10**9)(f)

def rejecting():
    breaker = CircuitBreaker(recovery_timeout=3600)
    breaker.open()
    return breaker(f)

variant, n = sys.argv[1], int(sys.argv[2])
twice = 2 * n
x = 1
repeat = itertools.repeat
if variant == "call":
    breaker = CircuitBreaker(failure_threshold=10**9)
    call = breaker.call

    def loop(n, call=call, f=f, x=x):
        for _ in repeat(None, n):
            try:
                call(f, x)
            except (ValueError, CircuitBreakerError):
                pass
    expected = "returns"
elif variant.startswith("async_"):
    async def af(x):
        return x

    def noop_async(func):
        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            return await func(*args, **kwargs)
        return wrapper

    g = {
        "async_bare": lambda: af,
        "async_noop": lambda: noop_async(af),
        "async_decorated": lambda: CircuitBreaker(failure_threshold=10**9)(af),
    }[variant]()
    expected = "returns"

    async def body(n, g=g, x=x):
        for _ in repeat(None, n):
            await g(x)

    def drive(coroutine):
        # Nothing suspends: one send runs the coroutine to its end, with no event loop.
        try:
            coroutine.send(None)
        except StopIteration as stop:
            return stop.value
        sys.exit(f"variant {variant}: the coroutine suspended")

    def loop(n):
        drive(body(n))
else:
    g = {
        "bare": lambda: f,
        "partial": lambda: functools.partial(f),
        "noop": lambda: noop_decorator(f),
        "decorated": lambda: CircuitBreaker(failure_threshold=10**9)(f),
        "uncounted": uncounted,
        "windowed": lambda: CircuitBreaker(
            failure_threshold=10**9, failure_rate_threshold=0.5, window_seconds=30
        )(f),
        "windowed_calls": lambda: CircuitBreaker(
            failure_threshold=10**9, failure_rate_threshold=0.5, window_calls=100
        )(f),
        "rejected": rejecting,
        "failure": lambda: CircuitBreaker(failure_threshold=10**9)(failing),
        "bare_failure": lambda: failing,
    }[variant]()
    expected = {"rejected": "rejects", "failure": "raises", "bare_failure": "raises"}.get(
        variant, "returns"
    )

    def loop(n, g=g, x=x):
        for _ in repeat(None, n):
            try:
                g(x)
            except (ValueError, CircuitBreakerError):
                pass

# What one call does, checked before counting it (the check runs in both the N and 2N runs).
if variant == "call":
    probe = lambda: call(f, x)
elif variant.startswith("async_"):
    probe = lambda: drive(g(x))
else:
    probe = lambda: g(x)
try:
    seen = "returns" if probe() == x else "wrong result"
except CircuitBreakerError:
    seen = "rejects"
except ValueError:
    seen = "raises"
if seen != expected:
    sys.exit(f"variant {variant}: one call {seen}, expected it to {expected}")
gc.disable()
loop(n)
os.getppid()
loop(n)
os.getppid()
loop(twice)
os.getppid()
print(fastbreaker.__file__)
"""

# (key, label): the rows of the table, in order.
VARIANTS: List[Tuple[str, str]] = [
    ("bare", "bare call f(x)"),
    ("partial", "functools.partial(f)"),
    ("noop", "no-op Python decorator"),
    ("decorated", "fastbreaker decorated, success"),
    ("uncounted", "fastbreaker decorated, counters off"),
    ("windowed", "fastbreaker decorated, 30 s failure-rate window"),
    ("windowed_calls", "fastbreaker decorated, 100-call failure-rate window"),
    ("call", "fastbreaker .call(f, x), success"),
    ("rejected", "fastbreaker decorated, rejected (caught)"),
    ("failure", "fastbreaker decorated, failure (caught)"),
    ("bare_failure", "bare f(x) raising ValueError (caught)"),
    ("async_bare", "bare await af(x)"),
    ("async_noop", "no-op async def wrapper, awaited"),
    ("async_decorated", "fastbreaker decorated async def, awaited"),
]


def count(
    python: str, variant: str, calls: int, env: Dict[str, str], valgrind: str, workdir: str
) -> Dict[str, Any]:
    """Runs one variant under callgrind: its Ir per iteration, and the fastbreaker it imported."""
    argv = [python, "-c", CHILD, variant, str(calls)]
    return callgrind_per_iteration(valgrind, workdir, variant, argv, calls, env)


def measure(
    python: str, pythonpath: Optional[str], calls: int, valgrind: str
) -> Tuple[Dict[str, float], str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    # One plain run first: it fails fast on a broken set-up.
    subprocess.run(
        [python, "-c", CHILD, "decorated", "1"], env=env, check=True, text=True, capture_output=True
    )
    per_iteration: Dict[str, float] = {}
    module = ""
    with tempfile.TemporaryDirectory() as workdir:
        for key, label in VARIANTS:
            counted = count(python, key, calls, env, valgrind, workdir)
            per_iteration[key], module = counted["per_iteration"], counted["module"]
            print(
                f"  {label:<44}{per_iteration[key]:10.1f} Ir/iteration "
                f"(+{counted['fixed']} fixed per part)",
                file=sys.stderr,
            )
    return per_iteration, module


def ratio(numerator: float, denominator: float) -> Optional[float]:
    return numerator / denominator if denominator > 0 else None


def report(per_iteration: Dict[str, float]) -> Tuple[Dict[str, float], Dict[str, Optional[float]]]:
    # Awaited variants against a bare await of the same `async def`; the others against f(x).
    beyond = {
        key: value - per_iteration["async_bare" if key.startswith("async_") else "bare"]
        for key, value in per_iteration.items()
    }
    ratios = {
        "decorated / functools.partial": ratio(beyond["decorated"], beyond["partial"]),
        "decorated / no-op decorator": ratio(beyond["decorated"], beyond["noop"]),
        "30 s failure-rate window / none": ratio(beyond["windowed"], beyond["decorated"]),
        "100-call failure-rate window / none": ratio(beyond["windowed_calls"], beyond["decorated"]),
        ".call / functools.partial": ratio(beyond["call"], beyond["partial"]),
        "failure beyond a bare failing call / functools.partial": ratio(
            per_iteration["failure"] - per_iteration["bare_failure"], beyond["partial"]
        ),
        "async decorated / no-op async def wrapper": ratio(
            beyond["async_decorated"], beyond["async_noop"]
        ),
    }
    return beyond, ratios


def render(
    per_iteration: Dict[str, float],
    beyond: Dict[str, float],
    ratios: Dict[str, Optional[float]],
    module: str,
    python: str,
    calls: int,
) -> str:
    lines = [
        f"callgrind, {python}, fastbreaker from {module}",
        f"instructions (Ir) per iteration = (Ir(loop of {2 * calls:,}) - Ir(loop of {calls:,})) "
        f"/ {calls:,}, in one process",
        "",
        f"  {'variant':<44}{'Ir/iteration':>14}{'beyond bare call':>18}",
    ]
    for key, label in VARIANTS:
        lines.append(f"  {label:<44}{per_iteration[key]:14.1f}{beyond[key]:18.1f}")
    lines.append("  (awaited rows: beyond a bare await of the same async def)")
    lines.append(
        f"  (failure beyond a bare failing call: "
        f"{per_iteration['failure'] - per_iteration['bare_failure']:.1f})"
    )
    lines.append("")
    lines.append("ratios of instructions beyond the bare call")
    for name, value in ratios.items():
        shown = "n/a" if value is None else f"{value:8.3f}"
        lines.append(f"  {name:<56}{shown:>8}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter to run the children")
    parser.add_argument("--pythonpath", metavar="DIR", help="put DIR first on their PYTHONPATH")
    parser.add_argument("--calls", type=int, default=200_000, help="N (default 200,000)")
    parser.add_argument("--quick", action="store_true", help="N = 2,000: a smoke run")
    parser.add_argument("--valgrind", default=shutil.which("valgrind") or "/usr/bin/valgrind")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    calls = 2_000 if args.quick else args.calls
    if not os.path.exists(args.valgrind):
        parser.error(f"valgrind not found at {args.valgrind}")
    if args.pythonpath and not os.path.isdir(args.pythonpath):
        parser.error(f"--pythonpath {args.pythonpath}: not a directory")
    per_iteration, module = measure(args.python, args.pythonpath, calls, args.valgrind)
    beyond, ratios = report(per_iteration)
    print(render(per_iteration, beyond, ratios, module, args.python, calls))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {
                    "python": args.python,
                    "pythonpath": args.pythonpath,
                    "fastbreaker": module,
                    "calls": calls,
                    "per_iteration": per_iteration,
                    "beyond_bare_call": beyond,
                    "ratios": ratios,
                    "quick": args.quick,
                },
                out,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
