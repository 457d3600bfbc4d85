"""Command line: ``python -m fastbreaker demo [--port PORT] [--duration SECONDS]``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import __version__, demo


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastbreaker",
        description="fastbreaker: a circuit breaker for Python services, with its core in Rust.",
    )
    parser.add_argument("--version", action="version", version=f"fastbreaker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser(
        "demo",
        help="run a flaky local service and watch the breaker open, probe and close",
        description=demo.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_arguments(demo_parser)
    args = parser.parse_args(argv)
    if not args.duration >= demo.MIN_DURATION:  # NaN too
        parser.error(f"--duration must be at least {demo.MIN_DURATION:g} seconds")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return demo.run(port=args.port, duration=args.duration)


if __name__ == "__main__":
    sys.exit(main())
