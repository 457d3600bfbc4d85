"""Command line: ``python -m fastbreaker demo [--port PORT] [--duration SECONDS]
[--workers N --store URL]``."""

from __future__ import annotations

import argparse
import os
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
    if args.duration is not None and not args.duration >= demo.MIN_DURATION:  # NaN too
        parser.error(f"--duration must be at least {demo.MIN_DURATION:g} seconds")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.workers is not None and not 1 <= args.workers <= demo.MAX_WORKERS:
        parser.error(f"--workers must be between 1 and {demo.MAX_WORKERS}")
    store = args.store
    if store is None and args.workers is not None:
        store = os.environ.get("FASTBREAKER_STORE_URL") or None
        if store is None:
            parser.error(
                "--workers needs --store redis://HOST:PORT/DB (processes share a breaker only "
                "through a store)"
            )
    if store is not None:
        return demo.run_fleet(
            store,
            workers=demo.WORKERS if args.workers is None else args.workers,
            port=args.port,
            duration=demo.FLEET_DURATION if args.duration is None else args.duration,
        )
    return demo.run(port=args.port, duration=20.0 if args.duration is None else args.duration)


if __name__ == "__main__":
    sys.exit(main())
