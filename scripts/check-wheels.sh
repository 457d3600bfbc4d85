#!/usr/bin/env bash
# Checks every wheel in dist/ (or the wheels given as arguments) as a user would get it:
#
#   tag         the file name says cp3X-cp3X-manylinux2014_x86_64.manylinux_2_17_x86_64, for a
#               supported CPython
#   auditwheel  `auditwheel show` finds it consistent with manylinux_2_17 (glibc 2.17) or older,
#               with no external shared library to bundle
#   deps        a fresh virtualenv of that wheel's own CPython installs 'wheel[test]' (the test
#               extra exactly as declared) from wheels only: nothing built from source, and no
#               cargo or rustc on PATH
#   tests       the test suite, run from a copy of tests/ (with the root files it reads) in a
#               scratch directory, imports the installed package and passes
#
# Prints a table and exits non-zero if any check fails. Logs and virtualenvs stay in
# target/wheel-check/<tag>/. Interpreters are found as scripts/build-wheels.sh finds them
# (PYTHONS="/path/to/python3.X ..." names them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/wheel-common.sh
WORK=$ROOT/target/wheel-check
PLATFORM=manylinux2014_x86_64.manylinux_2_17_x86_64
# What the tests read from the repository root besides tests/ (README.md: test_readme.py;
# benchmarks/: test_benchmark_smoke.py; pyproject.toml: the pytest settings; the others:
# test_build_backend.py). None of it makes the source tree's package importable.
TEST_FILES="tests README.md benchmarks pyproject.toml Cargo.toml build_backend"

if [ $# -gt 0 ]; then
    wheels=("$@")
else
    mapfile -t wheels < <(find dist -maxdepth 1 -name "*.whl" 2>/dev/null | sort -V)
    if [ ${#wheels[@]} -eq 0 ]; then
        echo "check-wheels: no wheel in dist/ (run scripts/build-wheels.sh first)" >&2
        exit 1
    fi
fi

setup_tools "${TOOL_PYTHON:-python3}" "auditwheel==$AUDITWHEEL_VERSION"

# PATH without Rust: every directory holding cargo, rustc or rustup is left out.
norust_path=""
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    if [ -z "$dir" ] || [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ] || [ -e "$dir/rustup" ]; then
        continue
    fi
    norust_path+="${norust_path:+:}$dir"
done

# Runs a command in a wheel's virtualenv: that venv first on a PATH without Rust, nothing from the
# caller's Python environment, and no way for cargo's own environment to be found.
in_venv() {
    env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV -u CARGO_HOME -u RUSTUP_HOME \
        PATH="$venv/bin:$norust_path" PYTHONNOUSERSITE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}

# The requirements of the wheel's `test` extra, one a line, from its METADATA.
test_requirements() {
    "$TOOLS/bin/python" - "$1" <<'EOF'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    for line in wheel.read(name).decode().splitlines():
        requirement, _, marker = line.partition(";")
        extra = re.compile(r"""\s*(\band\s+)?\(?extra\s*==\s*['"]test['"]\)?""")
        if requirement.startswith("Requires-Dist:") and extra.search(marker):
            marker = extra.sub("", marker).strip()
            print(requirement[len("Requires-Dist:"):].strip() + (f"; {marker}" if marker else ""))
EOF
}

# "passed failed errors skipped" and the failing tests' names from pytest's JUnit XML.
junit_summary() {
    "$TOOLS/bin/python" - "$1" "$2" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = list(root.iter("testcase"))
failed = [c for c in cases if c.find("failure") is not None]
errors = [c for c in cases if c.find("error") is not None]
skipped = [c for c in cases if c.find("skipped") is not None]
passed = len(cases) - len(failed) - len(errors) - len(skipped)
with open(sys.argv[2], "w") as out:
    for case in failed + errors:
        out.write(f"{case.get('classname')}::{case.get('name')}\n")
print(passed, len(failed), len(errors), len(skipped))
EOF
}

rm -rf "$WORK"
mkdir -p "$WORK"
rows=()
status=0
for wheel in "${wheels[@]}"; do
    name=$(basename "$wheel")
    wheel=$(cd "$(dirname "$wheel")" && pwd)/$name
    IFS=- read -r _ _ python_tag abi_tag platform <<<"${name%.whl}"
    minor=""
    [[ $python_tag =~ ^cp3([0-9]+)$ ]] && minor="3.${BASH_REMATCH[1]}"
    dir=$WORK/$python_tag
    mkdir -p "$dir"
    echo "=== $name"
    tag=ok audit=FAIL deps=- tests=-

    # 1. The tag.
    if [ -z "$minor" ] || [ "$abi_tag" != "$python_tag" ] || [ "$platform" != "$PLATFORM" ] ||
        [[ " $SUPPORTED " != *" $minor "* ]]; then
        tag=FAIL
        echo "tag: expected cp3X-cp3X-$PLATFORM for a supported CPython ($SUPPORTED)"
    fi

    # 2. auditwheel: consistent with manylinux_2_17 or an older policy, nothing to bundle.
    auditwheel show "$wheel" >"$dir/auditwheel.log" 2>&1 || true
    report=$(tr -s ' \n' ' ' <"$dir/auditwheel.log")
    glibc=$(grep -oE 'GLIBC_2\.[0-9]+(\.[0-9]+)?' "$dir/auditwheel.log" | sort -V | tail -n 1 || true)
    if [[ $report =~ consistent\ with\ the\ following\ platform\ tag:\ \"manylinux_2_([0-9]+)_x86_64\" ]] &&
        [ "${BASH_REMATCH[1]}" -le 17 ] && [[ $report != *"external shared libraries are required"* ]]; then
        audit="ok ${glibc:-no GLIBC}"
    else
        audit="FAIL ${glibc:-}"
        cat "$dir/auditwheel.log"
    fi

    # 3. A virtualenv of the wheel's own CPython, without Rust, installing wheels only.
    python=""
    [ -n "$minor" ] && python=$(find_python "$minor")
    if [ -z "$python" ]; then
        deps="no CPython ${minor:-?} found"
        echo "$deps: install it (pyenv install $minor) or name it in PYTHONS=\"/path/to/python$minor\""
    else
        venv=$dir/venv
        "$python" -m venv "$venv"
        if in_venv bash -c 'command -v cargo || command -v rustc'; then
            echo "cargo or rustc is still on PATH: $norust_path" >&2
            exit 1
        fi
        if in_venv python -m pip install --only-binary=:all: "${wheel}[test]" >"$dir/pip.log" 2>&1; then
            deps=ok
            in_venv python -m pip freeze >"$dir/freeze.txt"
        else
            deps=FAIL
            tail -n 5 "$dir/pip.log"
            # Which requirements of the extra cannot be installed on this Python, one at a time.
            unmet=()
            while read -r requirement; do
                if ! in_venv python -m pip install --dry-run --quiet --only-binary=:all: \
                    "$requirement" >>"$dir/pip-each.log" 2>&1; then
                    unmet+=("$requirement")
                fi
            done < <(test_requirements "$wheel")
            [ ${#unmet[@]} -eq 0 ] || deps="FAIL (no ${unmet[*]})"
        fi
    fi

    # 4. The test suite, against the installed package.
    if [ "$deps" = ok ]; then
        tree=$dir/tree
        mkdir -p "$tree"
        for file in $TEST_FILES; do
            [ -e "$file" ] && cp -r "$file" "$tree/"
        done
        find "$tree" -name __pycache__ -prune -exec rm -rf {} +
        imported=$(cd "$tree" && in_venv python -c 'import fastbreaker; print(fastbreaker.__file__)')
        echo "fastbreaker imported from $imported"
        if [[ $imported != "$venv/"* ]]; then
            echo "the tests would not import the installed wheel" >&2
            exit 1
        fi
        echo "+ pytest (log: $dir/pytest.log)"
        (cd "$tree" && in_venv python -m pytest -p no:cacheprovider --junitxml="$dir/junit.xml" \
            >"$dir/pytest.log" 2>&1) || true
        tail -n 1 "$dir/pytest.log"
        if [ -f "$dir/junit.xml" ]; then
            read -r passed failed errors skipped < <(junit_summary "$dir/junit.xml" "$dir/failed.txt")
            tests="$passed passed, $failed failed, $errors errors, $skipped skipped"
            sed 's/^/  failed: /' "$dir/failed.txt"
            if [ "$failed" -gt 0 ] || [ "$errors" -gt 0 ] || [ "$passed" -eq 0 ]; then
                tests="FAIL: $tests"
            fi
        else
            tests="FAIL: pytest did not run (see the log)"
        fi
    fi

    [ "$tag" = ok ] && [[ $audit == ok* ]] && [ "$deps" = ok ] && [[ $tests != FAIL* ]] || status=1
    rows+=("$name|$tag|$audit|$deps|$tests")
done

# Checking dist/: every supported CPython must have its wheel.
if [ $# -eq 0 ]; then
    for minor in $SUPPORTED; do
        if ! ls dist/*-"cp${minor/./}-cp${minor/./}"-*.whl >/dev/null 2>&1; then
            rows+=("(no wheel for CPython $minor in dist/)|-|-|-|-")
            status=1
        fi
    done
fi

echo
{
    echo "wheel|tag|auditwheel (newest GLIBC)|test deps|tests"
    printf '%s\n' "${rows[@]}"
} | column -t -s '|'
exit $status
