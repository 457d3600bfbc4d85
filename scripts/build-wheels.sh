#!/usr/bin/env bash
# Builds the release artefacts into dist/: one manylinux2014 (glibc 2.17) x86_64 wheel for each
# supported CPython, linked with zig so that it installs on old distributions (Debian 11, Ubuntu
# 20.04, RHEL 8, Amazon Linux 2), plus the sdist. Exits non-zero on any failure.
#
#     scripts/build-wheels.sh                            # CPython 3.9 to 3.13, found through pyenv
#     scripts/build-wheels.sh /usr/bin/python3.9 ...     # exactly these interpreters
#     PYTHONS="/opt/py39/bin/python3 ..." scripts/build-wheels.sh
#
# Its tools (maturin, ziglang, auditwheel, versions pinned in wheel-common.sh) go in a virtualenv
# of their own, target/wheel-tools. Check the results with scripts/check-wheels.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wheel-common.sh
OUT=dist

die() {
    echo "build-wheels: $*" >&2
    exit 1
}

# 1. The interpreters: the arguments, else one for each supported version.
pythons=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
    missing=()
    for minor in $SUPPORTED; do
        python=$(find_python "$minor")
        if [ -n "$python" ]; then pythons+=("$python"); else missing+=("$minor"); fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        die "no CPython ${missing[*]} found (looked in ${PYTHONS:+PYTHONS, }pyenv and PATH);" \
            "install it (pyenv install ${missing[0]}), or name the interpreters as arguments" \
            "or in PYTHONS=\"/path/to/python3.X ...\""
    fi
fi
for python in "${pythons[@]}"; do
    [ -n "$(python_version "$python")" ] || die "$python is not a working CPython interpreter"
done

# 2. The tools.
setup_tools "${TOOL_PYTHON:-${pythons[-1]}}" \
    "maturin==$MATURIN_VERSION" "ziglang==$ZIGLANG_VERSION" "auditwheel==$AUDITWHEEL_VERSION"
maturin --version
echo "zig $(python -m ziglang version)" # maturin --zig runs the ziglang package's zig

# 3. The sdist, then the wheels, one interpreter at a time (one Rust build at a time). dist/ holds
#    only this run's artefacts. `--auditwheel check` fails the build if the library needs
#    anything newer than manylinux2014 allows, instead of silently bundling it.
rm -rf "$OUT"
# The sdist first: built after the wheels, it would pack dist/*.whl into itself.
echo "+ maturin sdist"
maturin sdist --out "$OUT"
for python in "${pythons[@]}"; do
    echo "+ maturin build --release --zig --compatibility manylinux2014 -i $python"
    maturin build --release --locked --zig --compatibility manylinux2014 --auditwheel check \
        --interpreter "$python" --out "$OUT"
done

echo "built:"
ls -l "$OUT"
