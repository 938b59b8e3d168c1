#!/usr/bin/env bash
# `npm test`: installs what is missing, builds, and runs every unit and integration
# test (real PostgreSQL clusters, a real Secret Service) with node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx tsc -p tsconfig.json
mapfile -t files < <(find dist/test/unit dist/test/integration -name '*.test.js' | sort)
exec bash scripts/with-keyring.sh node --test --test-concurrency=2 --test-timeout=300000 "$@" "${files[@]}"
