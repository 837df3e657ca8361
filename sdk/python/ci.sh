#!/usr/bin/env bash
# CI of the Python SDK: creates (or reuses) the venv .ci/venv-sdk-py at the repository's root,
# installs the SDK with its dev extras, type-checks it with mypy --strict and runs pytest.
# Needs python3 ≥ 3.10 with venv, a reachable PyPI, and the node binary at $AGENTMESH_BIN
# (default: target/debug/agentmesh at the repository's root) for the end-to-end tests.
set -euo pipefail
sdk="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$sdk/../.." && pwd)"
venv="$root/.ci/venv-sdk-py"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv…"
    "$python" -m venv "$venv"
    # Keep the venv out of git, as Python ≥ 3.13's venv does by itself.
    echo '*' >"$venv/.gitignore"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "${sdk}[dev]"

export AGENTMESH_BIN="${AGENTMESH_BIN:-$root/target/debug/agentmesh}"
if [ ! -x "$AGENTMESH_BIN" ]; then
    echo "error: no agentmesh binary at $AGENTMESH_BIN (cargo build, or set AGENTMESH_BIN)" >&2
    exit 1
fi

cd "$sdk"
"$venv/bin/python" -m mypy --strict src/agentmesh tests examples bench
"$venv/bin/python" -m pytest -q
