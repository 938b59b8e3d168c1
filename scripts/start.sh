#!/usr/bin/env bash
# `npm start`: build, then run the broker headless with the user's config
# (./secretless.yml, else the user config dir, created with an example on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx tsc -p tsconfig.json
exec ./bin/secretless-desktop.js serve "$@"
