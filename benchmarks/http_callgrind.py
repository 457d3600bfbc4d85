"""Instructions per HTTP request, counted by callgrind: the HTTP client integrations against the
bare clients they wrap, on loopback. No timing, so no noise from the machine: what a change to
the adapter, the transports or ``protected_*`` costs or saves, per request.

    pip install '.[httpx]' && python benchmarks/http_callgrind.py [--requests N] [--json FILE]
        [--python PYTHON] [--pythonpath DIR] [--jobs J] [--quick]

The canned keep-alive server of ``http_clients.py`` runs in another process, outside valgrind, so
that only the client's instructions are counted. Each variant is a child program under
``valgrind --tool=callgrind`` with PYTHONHASHSEED=0 and the garbage collector off, which checks one
answer, then sends GETs to the server in one process:

    get(url) N times    warm-up: opens the connection, specialises the bytecode
    os.getppid()        callgrind dumps its counts here (--dump-before=getppid)
    get(url) N times    part A
    os.getppid()
    get(url) 2N times   part B
    os.getppid()

so that ``(Ir(B) - Ir(A)) / N`` is the instructions of one request (``callgrind.py`` explains the
method). The counts are the client's user-space instructions: the kernel's work is not in them
(a socket with a timeout, as ``protected_get``'s default one, makes two system calls more per
request, which is why it is also compared with a bare ``Session`` given the same timeout).

Precision. A request is not a pure function call: its count moves by a few thousand instructions
in ~1.4 to 3.2 million (0.1 to 0.3 %) with the process's memory layout, which the environment,
the paths and the code of every module imported change, and ``fixed`` (what parts A and B both
hold besides the requests, ideally a few hundred instructions) shows how far the two parts
strayed. Read the overheads (tens of thousands of instructions) and their changes to about
+-2,000. To compare two builds, run once with each (``--pythonpath DIR`` puts a copy of the
package first on the children's path, as in ``callgrind.py``).

The ratio ``bare / guarded`` is the throughput ratio the client would show if time followed
instructions; ``http_clients.py`` measures the real one, through the noise. Time has followed
instructions loosely: on 2026-11-28 the overheads in time were 1 to 4 times those in instructions
(likely because the code a guarded request adds runs once per request, from cold caches).

Where the instructions go: ``callgrind_annotate`` only sees C functions (the interpreter's loop,
for all of Python), so attribute them to Python functions another way: a ``sys.settrace`` hook
that sets ``frame.f_trace_opcodes`` and counts the ``opcode`` events of each code object, for one
request of each variant after a warm-up, shows what a guarded request executes that the bare one
does not (an opcode costs 70 to 100 instructions on average here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from _common import callgrind_per_iteration
from fastbreaker.external_service_client import DEFAULT_TIMEOUT
from http_clients import canned_server

CHILD = r"""
import functools, gc, itertools, os, sys
import httpx, requests
import fastbreaker
from fastbreaker.external_service_client import DEFAULT_TIMEOUT, protected_get
from fastbreaker.httpx_transport import CircuitBreakerTransport
from fastbreaker.requests_adapter import CircuitBreakerAdapter

def mounted(adapter):
    session = requests.Session()
    session.mount("http://", adapter)
    return session

variant, n, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
get = {
    "session": lambda: requests.Session().get,
    "session_timeout": lambda: functools.partial(requests.Session().get, timeout=DEFAULT_TIMEOUT),
    "adapter": lambda: mounted(CircuitBreakerAdapter()).get,
    "protected": lambda: protected_get,
    "client": lambda: httpx.Client(transport=httpx.HTTPTransport()).get,
    "transport": lambda: httpx.Client(transport=CircuitBreakerTransport(httpx.HTTPTransport())).get,
}[variant]()

answer = get(url)
if answer.status_code != 200 or answer.content != b"ok":
    sys.exit(f"variant {variant}: answered {answer.status_code} {answer.content!r}")

def loop(n, get=get, url=url):
    for _ in itertools.repeat(None, n):
        get(url)

gc.disable()
loop(n)
os.getppid()
loop(n)
os.getppid()
loop(2 * n)
os.getppid()
print(fastbreaker.__file__)
"""

# (key, label): the rows of the table, in order.
VARIANTS: List[Tuple[str, str]] = [
    ("session", "requests.Session().get"),
    ("session_timeout", f"requests.Session().get, timeout={DEFAULT_TIMEOUT}"),
    ("adapter", "Session + CircuitBreakerAdapter"),
    ("protected", "protected_get"),
    ("client", "httpx.Client().get"),
    ("transport", "Client + CircuitBreakerTransport"),
]

# (guarded, bare): the overheads reported.
PAIRS: List[Tuple[str, str]] = [
    ("adapter", "session"),
    ("protected", "session"),
    ("protected", "session_timeout"),
    ("transport", "client"),
]


def count(
    python: str,
    variant: str,
    requests: int,
    url: str,
    env: Dict[str, str],
    valgrind: str,
    workdir: str,
) -> Dict[str, Any]:
    """Runs one variant under callgrind: its Ir per request, and the fastbreaker it imported."""
    argv = [python, "-c", CHILD, variant, str(requests), url]
    counted = callgrind_per_iteration(valgrind, workdir, variant, argv, requests, env)
    counted["per_request"] = counted.pop("per_iteration")
    return counted


def measure(
    python: str, pythonpath: Optional[str], requests: int, valgrind: str, jobs: int
) -> Tuple[Dict[str, Dict[str, Any]], str]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as workdir, canned_server() as url:
        # One plain run first: it fails fast on a broken set-up.
        subprocess.run(
            [python, "-c", CHILD, "transport", "1", url],
            env=env,
            check=True,
            text=True,
            capture_output=True,
        )
        with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            futures = {
                key: pool.submit(count, python, key, requests, url, env, valgrind, workdir)
                for key, _ in VARIANTS
            }
            counted = {key: future.result() for key, future in futures.items()}
    return counted, counted[VARIANTS[0][0]]["module"]


def overheads(per_request: Dict[str, float]) -> Dict[str, Dict[str, float]]:
    """Each guarded variant's instructions beyond its bare client, and bare / guarded."""
    labels = dict(VARIANTS)
    return {
        f"{labels[guarded]} / {labels[bare]}": {
            "beyond_bare": per_request[guarded] - per_request[bare],
            "ratio": per_request[bare] / per_request[guarded],
        }
        for guarded, bare in PAIRS
    }


def render(
    counted: Dict[str, Dict[str, Any]],
    compared: Dict[str, Dict[str, float]],
    module: str,
    python: str,
    requests: int,
) -> str:
    lines = [
        f"callgrind, {python}, fastbreaker from {module}",
        f"instructions (Ir) per request = (Ir({2 * requests:,} requests) - Ir({requests:,} "
        f"requests)) / {requests:,}, in one process; loopback, a canned server in another",
        "",
        f"  {'variant':<40}{'Ir/request':>14}{'fixed':>12}",
    ]
    for key, label in VARIANTS:
        lines.append(
            f"  {label:<40}{counted[key]['per_request']:14,.0f}{counted[key]['fixed']:12,}"
        )
    lines.append("")
    lines.append("beyond the bare client (Ir/request; +-2,000), and bare / guarded")
    for name, values in compared.items():
        lines.append(f"  {name:<72}{values['beyond_bare']:10,.0f}{values['ratio']:8.4f}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter to run the children")
    parser.add_argument("--pythonpath", metavar="DIR", help="put DIR first on their PYTHONPATH")
    parser.add_argument("--requests", type=int, default=300, help="N (default 300)")
    parser.add_argument("--quick", action="store_true", help="N = 5: a smoke run")
    parser.add_argument(
        "--jobs", type=int, default=2, help="children run at once (counts do not depend on it)"
    )
    parser.add_argument("--valgrind", default=shutil.which("valgrind") or "/usr/bin/valgrind")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    requests = 5 if args.quick else args.requests
    if requests < 1:
        parser.error("--requests must be at least 1")
    if not os.path.exists(args.valgrind):
        parser.error(f"valgrind not found at {args.valgrind}")
    if args.pythonpath and not os.path.isdir(args.pythonpath):
        parser.error(f"--pythonpath {args.pythonpath}: not a directory")
    counted, module = measure(args.python, args.pythonpath, requests, args.valgrind, args.jobs)
    per_request = {key: values["per_request"] for key, values in counted.items()}
    compared = overheads(per_request)
    print(render(counted, compared, module, args.python, requests))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {
                    "python": args.python,
                    "pythonpath": args.pythonpath,
                    "fastbreaker": module,
                    "requests": requests,
                    "per_request": per_request,
                    "fixed": {key: values["fixed"] for key, values in counted.items()},
                    "overheads": compared,
                    "quick": args.quick,
                },
                out,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
