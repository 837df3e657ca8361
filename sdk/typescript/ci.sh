#!/usr/bin/env bash
# CI of the TypeScript SDK (sdk/typescript): install from the lock file (pinned devDependencies
# included: Cloudflare's web-bot-auth 0.1.3 and http-message-sig 0.2.0 / 0.3.0 for the interop
# tests), type-check, build, and run every test — unit tests, docs/test-vectors.json (every
# section, RFC 9421 ones included), interop with those independent RFC 9421 / Web Bot Auth
# implementations, and the end-to-end tests against a real node (the agentmesh binary at
# $AGENTMESH_BIN, default: the repo's target/debug/agentmesh).
# Needs Node.js >= 20 and npm, and the npm registry reachable for `npm ci`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bin="${AGENTMESH_BIN:-$repo/target/debug/agentmesh}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
if [[ ! -x "$bin" ]]; then
  echo "error: no agentmesh binary at $bin (run cargo build, or set AGENTMESH_BIN)" >&2
  exit 1
fi
export AGENTMESH_BIN="$bin"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
  echo "error: Node.js >= 20 is needed (found $(node --version))" >&2
  exit 1
fi

cd "$here"
npm ci --no-audit --no-fund
./node_modules/.bin/tsc --noEmit
rm -rf dist
./node_modules/.bin/tsc
node --test dist/test/*.test.js
