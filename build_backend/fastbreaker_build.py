"""fastbreaker's build backend: maturin's, with one change.

Building fastbreaker from source needs Rust. Where cargo is missing, maturin's own backend would
download and install a Rust toolchain (hundreds of megabytes) behind the user's back, or, offline,
fail with a long traceback. This backend checks first and stops with a short message saying what
is needed, and how to get a prebuilt wheel instead.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from typing import Any, Callable, Optional, Tuple

# Never let maturin fetch a toolchain: a missing Rust is reported below instead.
os.environ["MATURIN_NO_INSTALL_RUST"] = "1"

import maturin

# The crate's `rust-version` (Cargo.toml, [workspace.package]); a test keeps the two in step.
RUST_VERSION = (1, 95)

_HELP = (
    "fastbreaker: building from source needs Rust {needed} or newer (cargo and rustc on PATH); "
    "{found}.\n"
    "  - Install Rust with rustup (https://rustup.rs), then run the install again, or\n"
    "  - install a prebuilt wheel instead: pip install --only-binary fastbreaker fastbreaker\n"
    "    (wheels are published for CPython 3.9-3.13; Linux x86_64 with glibc 2.17+ is tested)."
)


def _rustc_version() -> Optional[Tuple[int, int]]:
    rustc = shutil.which("rustc")
    if rustc is None or shutil.which("cargo") is None:
        return None
    try:
        output = subprocess.run(
            [rustc, "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"rustc (\d+)\.(\d+)", output)
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_rust() -> None:
    """Stops the build with a clear message unless a recent enough Rust is installed."""
    found = _rustc_version()
    if found is not None and found >= RUST_VERSION:
        return
    needed = ".".join(map(str, RUST_VERSION))
    if found is None:
        what = "cargo or rustc was not found"
    else:
        what = f"found rustc {found[0]}.{found[1]}"
    raise SystemExit(_HELP.format(needed=needed, found=what))


def _checked(hook: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(hook)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check_rust()
        return hook(*args, **kwargs)

    return checked


# Every PEP 517 / PEP 660 hook maturin provides, each checking for Rust first.
_HOOKS = (
    "get_requires_for_build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_editable",
    "prepare_metadata_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "build_wheel",
    "build_sdist",
    "build_editable",
)
for _name in _HOOKS:
    if hasattr(maturin, _name):
        globals()[_name] = _checked(getattr(maturin, _name))
