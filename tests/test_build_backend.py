"""Building from source without Rust stops at once with a clear message (it never downloads a
toolchain), and the backend's Rust version is the crate's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parent.parent
BACKEND = ROOT / "build_backend"

# The backend wraps maturin's; a stand-in is enough to reach its Rust check.
RUN_HOOK = textwrap.dedent(
    """
    import sys, types
    maturin = types.ModuleType("maturin")
    maturin.get_requires_for_build_wheel = lambda config_settings=None: ["maturin-called"]
    sys.modules["maturin"] = maturin
    sys.path.insert(0, sys.argv[1])
    import fastbreaker_build
    print(fastbreaker_build.get_requires_for_build_wheel())
    print("MATURIN_NO_INSTALL_RUST=" + __import__("os").environ["MATURIN_NO_INSTALL_RUST"])
    """
)


def run_hook(path: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN_HOOK, str(BACKEND)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )


def test_without_rust_the_build_stops_with_what_to_do(tmp_path):
    result = run_hook(str(tmp_path))  # a PATH with neither cargo nor rustc
    assert result.returncode != 0
    assert "needs Rust 1.95 or newer" in result.stderr
    assert "cargo or rustc was not found" in result.stderr
    assert "--only-binary fastbreaker" in result.stderr
    assert "Traceback" not in result.stderr
    assert "maturin-called" not in result.stdout


def test_an_old_rust_is_named(tmp_path):
    for tool, version in (("cargo", "cargo 1.80.0"), ("rustc", "rustc 1.80.0 (abc 2024-07-21)")):
        script = tmp_path / tool
        script.write_text(f"#!/bin/sh\necho '{version}'\n")
        script.chmod(0o755)
    result = run_hook(str(tmp_path))
    assert result.returncode != 0
    assert "found rustc 1.80" in result.stderr


def test_with_rust_the_build_goes_on_and_never_installs_a_toolchain(tmp_path):
    for tool, version in (("cargo", "cargo 1.95.0"), ("rustc", "rustc 1.95.0 (abc 2026-04-14)")):
        script = tmp_path / tool
        script.write_text(f"#!/bin/sh\necho '{version}'\n")
        script.chmod(0o755)
    result = run_hook(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "maturin-called" in result.stdout
    assert "MATURIN_NO_INSTALL_RUST=1" in result.stdout


def test_the_backend_and_the_crate_agree_on_the_rust_version():
    cargo = (ROOT / "Cargo.toml").read_text()
    crate = re.search(r'^rust-version = "(\d+)\.(\d+)"', cargo, re.M)
    backend = re.search(
        r"^RUST_VERSION = \((\d+), (\d+)\)", (BACKEND / "fastbreaker_build.py").read_text(), re.M
    )
    assert crate and backend and crate.groups() == backend.groups()
