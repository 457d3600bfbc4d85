# shellcheck shell=bash disable=SC2034
# (Sourced, so its variables are used by the callers.)
# Shared by build-wheels.sh and check-wheels.sh (sourced, not run): the supported CPythons, where
# to find them, and the tool virtualenv.

SUPPORTED="3.9 3.10 3.11 3.12 3.13"
MATURIN_VERSION=${MATURIN_VERSION:-1.16.0}
ZIGLANG_VERSION=${ZIGLANG_VERSION:-0.17.1}
AUDITWHEEL_VERSION=${AUDITWHEEL_VERSION:-6.8.2}
TOOLS=${TOOLS_VENV:-$PWD/target/wheel-tools}

# The interpreter of one CPython version ("3.9"): the one of that version in $PYTHONS (a space
# separated list of interpreters) if given, else the newest pyenv install of it, else pythonX.Y on
# PATH. Prints nothing if there is none.
find_python() {
    local minor=$1 python version prefix
    if [ -n "${PYTHONS:-}" ]; then
        for python in $PYTHONS; do
            if [ "$(python_version "$python")" = "$minor" ]; then
                echo "$python"
                return
            fi
        done
        return
    fi
    if command -v pyenv >/dev/null; then
        version=$(pyenv versions --bare | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
        if [ -n "$version" ]; then
            prefix=$(pyenv prefix "$version")
            if [ -x "$prefix/bin/python$minor" ]; then
                echo "$prefix/bin/python$minor"
                return
            fi
        fi
    fi
    command -v "python$minor" || true
}

# "3.11" for a CPython 3.11 interpreter; nothing for anything else.
python_version() {
    "$1" -c 'import sys; sys.implementation.name == "cpython" and print("%d.%d" % sys.version_info[:2])' \
        2>/dev/null || true
}

# Creates the tool virtualenv (once) with the pinned tools, and puts it first on PATH.
setup_tools() {
    local python=$1
    shift
    if [ ! -x "$TOOLS/bin/python" ]; then
        echo "+ creating the tool virtualenv $TOOLS"
        "$python" -m venv "$TOOLS"
    fi
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    export PATH="$TOOLS/bin:$PATH"
}
