#!/usr/bin/env bash
# `npm run bench`: PostgreSQL benchmark (direct vs broker vs haproxy vs pgbouncer).
# Installs missing Debian packages when root (otherwise prints the command and runs the
# paths it can), builds, and runs the script. Arguments go to the script, e.g.
#   npm run bench -- --quick tps pipe
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A needed=([haproxy]=haproxy [pgbouncer]=pgbouncer [pgbench]=postgresql [psql]=postgresql-client [openssl]=openssl)
missing=()
for cmd in "${!needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: $pkgs" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "missing Debian packages (paths that need them are skipped); as root: apt-get install -y $pkgs" >&2
  fi
fi

# Other people's files may not compile at every moment; tsc still emits JS, so go on.
npx tsc -p tsconfig.json || echo "bench: tsc reported errors (see above); running what was emitted" >&2
exec node dist/test/bench/pg-bench.js "$@"
