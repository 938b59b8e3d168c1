#!/usr/bin/env bash
# `npm test`: installs what is missing, builds, and runs every unit, integration and
# end-to-end test (real PostgreSQL clusters, a real Secret Service, Debian's Chromium)
# with node's test runner. Screenshots go to test-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# A clean build: tests run every compiled *.test.js, so a test renamed or removed in the
# source would otherwise keep running from its stale copy in dist/.
rm -rf dist
npx tsc -p tsconfig.json
# The native data pump (Linux; optional: without it the broker pipes in JS).
bash scripts/build-native.sh
# The desktop app: Electron main/preload against the real electron types (emitted to
# dist/electron: the harness in test/electron-harness runs them), the renderer's own
# typecheck, and its Vite build (dist/ui, served by `serve --ui`, loaded by the harness).
npx tsc -p electron/tsconfig.json
npx tsc -p renderer/tsconfig.json
npx vite build -c renderer/vite.config.ts
mkdir -p test-output
mapfile -t files < <(find dist/test/unit dist/test/integration dist/test/e2e dist/test/electron -name '*.test.js' | sort)
exec bash scripts/with-keyring.sh node --test --test-concurrency=2 --test-timeout=300000 "$@" "${files[@]}"
