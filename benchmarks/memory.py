"""Memory over many calls of every kind: how much RSS grows, and how many objects stay behind.

    python benchmarks/memory.py [--calls N] [--json results.json] [--quick]

A measurement, not a test: nothing here passes or fails. (The exact checks, reference counts and
live objects unchanged after a million calls, are in tests/test_memory.py.)

Each kind of call runs in a fresh child process: a warm-up of N/10 calls (caches, interned names,
the allocator's pools), then N calls. The child reports, between the end of the warm-up and the
end of the run:

- RSS growth (from /proc/self/statm, Linux; elsewhere ru_maxrss, which only ever grows);
- the change in blocks held by Python's allocator (sys.getallocatedblocks), which counts memory
  allocated by the interpreter, not by the Rust core;
- the change in objects tracked by the garbage collector.

Small non-zero numbers are normal (the allocator keeps freed memory; integers above 256 are
allocated). A leak shows as growth proportional to N: run with two values of --calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any, Dict, List, Optional

CHILD = r"""
import asyncio, gc, json, logging, os, resource, sys
from fastbreaker import CircuitBreaker, CircuitBreakerError

logging.getLogger("fastbreaker").setLevel(logging.CRITICAL)  # no log records piling up anywhere

MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB

def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * MAXRSS_UNIT

def rss_bytes():
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return peak_rss_bytes()

def tracked_objects():
    count = -1
    while True:
        gc.collect()
        now = len(gc.get_objects())
        if now == count:
            return now
        count = now

payload, result = object(), object()
expected, unexpected = ConnectionError("down"), KeyError("not counted")

def succeed(arg):
    return result

def fail(arg):
    raise expected.with_traceback(None)

def wrong(arg):
    raise unexpected.with_traceback(None)

def interrupt(arg):
    raise KeyboardInterrupt

async def succeed_async(arg):
    return result

closed = CircuitBreaker(failure_threshold=10**9)
flapping = CircuitBreaker(failure_threshold=3, recovery_timeout=0, success_threshold=1,
                          expected_exceptions=OSError)
closed_ignoring = CircuitBreaker(failure_threshold=10**9, expected_exceptions=OSError)
opened = CircuitBreaker(recovery_timeout=3600)
opened.open()
decorated = closed(succeed)
rejected = opened(succeed)
mixed = [succeed, fail, fail, fail, wrong, interrupt]

def one(i):
    if kind == "decorated success":
        decorated(payload)
    elif kind == ".call success":
        closed.call(succeed, payload)
    elif kind == "counted failure":
        closed.call(fail, payload)
    elif kind == "rejection (open circuit)":
        rejected(payload)
    elif kind == "unexpected exception (ignored)":
        closed_ignoring.call(wrong, payload)
    elif kind == "KeyboardInterrupt (ignored)":
        closed.call(interrupt, payload)
    elif kind == "acquire + record_success":
        closed.acquire().record_success()
    elif kind == "mixed, with transitions":
        target = opened if i % 7 == 0 else flapping
        target.call(mixed[i % len(mixed)], payload)
    else:
        raise SystemExit(f"unknown kind {kind!r}")

def run(count):
    for i in range(count):
        try:
            one(i)
        except (OSError, KeyError, KeyboardInterrupt, CircuitBreakerError):
            pass

async def run_async(count):
    for _ in range(count):
        await closed.call_async(succeed_async, payload)

def forget_last_tracebacks():
    expected.with_traceback(None)
    unexpected.with_traceback(None)

kind, calls = sys.argv[1], int(sys.argv[2])
go = (lambda n: asyncio.run(run_async(n))) if kind == "call_async success" else run
go(max(1, calls // 10))
forget_last_tracebacks()
objects, blocks = tracked_objects(), sys.getallocatedblocks()
rss = rss_bytes()
go(calls)
forget_last_tracebacks()
print(json.dumps({
    "rss_growth_bytes": rss_bytes() - rss,
    "allocated_blocks_change": sys.getallocatedblocks() - blocks,
    "tracked_objects_change": tracked_objects() - objects,
    "peak_rss_bytes": peak_rss_bytes(),
}))
"""

KINDS: List[str] = [
    "decorated success",
    ".call success",
    "call_async success",
    "counted failure",
    "rejection (open circuit)",
    "unexpected exception (ignored)",
    "KeyboardInterrupt (ignored)",
    "acquire + record_success",
    "mixed, with transitions",
]


def measure(kind: str, calls: int) -> Dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(calls)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{kind}: the child failed\n{result.stderr}")
    data: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    data["rss_growth_bytes_per_call"] = data["rss_growth_bytes"] / calls
    return data


def render(results: Dict[str, Dict[str, Any]], calls: int) -> str:
    lines = [
        f"memory over {calls:,} calls after a warm-up of {max(1, calls // 10):,} "
        f"(one child process per kind)",
        "",
        f"  {'kind':<34}{'RSS growth':>14}{'bytes/call':>12}{'py blocks':>11}{'gc objects':>12}",
    ]
    for kind, data in results.items():
        lines.append(
            f"  {kind:<34}{data['rss_growth_bytes'] / 1024:11,.0f} KiB"
            f"{data['rss_growth_bytes_per_call']:12.4f}"
            f"{data['allocated_blocks_change']:11,d}{data['tracked_objects_change']:12,d}"
        )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1_000_000, help="N (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="N = 2,000: a smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    calls = 2_000 if args.quick else args.calls
    results = {kind: measure(kind, calls) for kind in KINDS}
    print(render(results, calls))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"calls": calls, "results": results, "quick": args.quick}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
