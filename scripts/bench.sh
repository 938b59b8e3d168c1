#!/usr/bin/env bash
# `npm run bench`: PostgreSQL benchmark (direct vs broker vs haproxy vs pgbouncer).
# Installs missing Debian packages when root (otherwise prints the command and runs the
# paths it can), builds, and runs the script. Arguments go to the script, e.g.
#   npm run bench -- --quick tps pipe
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/debian-packages.sh
ensure_debian_packages lenient haproxy=haproxy pgbouncer=pgbouncer initdb=postgresql \
  pgbench=postgresql-client psql=postgresql-client openssl=openssl

npx tsc -p tsconfig.json
exec node dist/test/bench/pg-bench.js "$@"
