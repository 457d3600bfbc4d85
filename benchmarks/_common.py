"""What the benchmark scripts share: their sections, the loops they time, where they ran, and the
JSON they write. Imported as ``_common`` (a script's own directory is first on ``sys.path``)."""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional


@dataclass
class Section:
    title: str
    unit: str  # "ns/call", "us/call", "ms", "calls/s" or "req/s"
    results: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


def looped(func: Callable[..., Any], *args: Any) -> Callable[[int], None]:
    """`n` calls of `func(*args)`."""

    def run(n: int) -> None:
        for _ in range(n):
            func(*args)

    return run


def looped_catching(func: Callable[..., Any], error: Any, *args: Any) -> Callable[[int], None]:
    """`n` calls of `func(*args)`, each catching `error`."""

    def run(n: int) -> None:
        for _ in range(n):
            try:
                func(*args)
            except error:
                pass

    return run


def target(x: int) -> int:
    return x


def raising(x: int) -> int:
    raise ValueError(x)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine(cpu: str, versions: str) -> Dict[str, str]:
    """Where a run ran, as the report and the JSON show it."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": cpu,
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions,
    }


def write_json(
    path: Optional[str],
    machine_info: Dict[str, str],
    sections: Mapping[str, Section],
    ratios: Mapping[str, Optional[float]],
    quick: bool,
) -> None:
    """Writes the run's results to `path` (nothing when it is `None`)."""
    if not path:
        return
    with open(path, "w") as out:
        json.dump(
            {
                "machine": machine_info,
                "sections": {key: asdict(section) for key, section in sections.items()},
                "ratios": dict(ratios),
                "quick": quick,
            },
            out,
            indent=2,
        )


def callgrind_parts(out: str) -> List[int]:
    """The Ir of each part callgrind dumped at `--dump-before=getppid` into `out.*`, in order."""
    found = []
    for path in glob.glob(glob.escape(out) + ".*"):
        with open(path) as data:
            text = data.read()
        part = re.search(r"^part:\s*(\d+)", text, re.MULTILINE)
        summary = re.search(r"^summary:\s*(\d+)", text, re.MULTILINE)
        if "Trigger: --dump-before=getppid" in text and part and summary:
            found.append((int(part.group(1)), int(summary.group(1))))
    return [ir for _, ir in sorted(found)]


def callgrind_per_iteration(
    valgrind: str,
    workdir: str,
    variant: str,
    argv: List[str],
    iterations: int,
    env: Dict[str, str],
) -> Dict[str, Any]:
    """Runs `argv` (a child that does its warm-up, then N and 2N iterations, calling
    `os.getppid()` after each, and prints the fastbreaker it imported last) under callgrind:
    the instructions of one iteration, `(Ir(2N) - Ir(N)) / N`, what both parts hold besides the
    iterations, and the module path."""
    out = os.path.join(workdir, f"callgrind.{variant}.out")
    command = [valgrind, "--tool=callgrind", "--quiet", "--dump-before=getppid"]
    command += [f"--callgrind-out-file={out}", *argv]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{variant}: the child failed:\n{result.stderr}")
    dumped = callgrind_parts(out)
    if len(dumped) != 3:  # start-up + warm-up, part A, part B
        raise SystemExit(f"{variant}: expected 3 parts dumped at getppid(), got {len(dumped)}")
    _, once, twice = dumped
    return {
        "per_iteration": (twice - once) / iterations,
        "fixed": 2 * once - twice,  # what A and B both contain besides the iterations
        "module": result.stdout.strip().splitlines()[-1],
    }
