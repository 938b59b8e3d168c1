#!/usr/bin/env bash
# `npm run bench`: PostgreSQL benchmark (direct vs broker vs haproxy vs pgbouncer), then
# the MySQL one (direct vs broker vs haproxy on MariaDB), the Redis one (direct vs
# broker vs haproxy, redis-benchmark) and the HTTP one (direct vs broker vs nginx as a
# reverse proxy, wrk) and the same-user check (its lookup, and churn with it on and
# off); those four take --quick only.
# The same-user bench reads the kernel's TCP hash size from `dmesg` (util-linux, Essential on
# Debian, so on every machine; it prints the figure without it).
# test/bench/instructions.ts (instruction counts under callgrind) is run by hand:
#   node dist/test/bench/instructions.js --broker OLD_CHECKOUT --broker .
# Installs missing Debian packages when root (otherwise prints the command and runs the
# paths it can), builds, and runs the script. Arguments go to the script, e.g.
#   npm run bench -- --quick tps pipe
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib/debian-packages.sh
ensure_debian_packages lenient haproxy=haproxy pgbouncer=pgbouncer initdb=postgresql \
  pgbench=postgresql-client psql=postgresql-client openssl=openssl \
  mariadb-install-db=mariadb-server mariadb-slap=mariadb-client \
  redis-server=redis-server redis-benchmark=redis-tools /usr/sbin/nginx=nginx wrk=wrk \
  valgrind=valgrind callgrind_control=valgrind callgrind_annotate=valgrind

npx tsc -p tsconfig.json
# The native data pump (Linux; optional: without it the broker pipes in JS).
bash scripts/build-native.sh
node dist/test/bench/pg-bench.js "$@"
quick_args=()
for arg in "$@"; do if [[ "$arg" == --quick ]]; then quick_args+=("$arg"); fi; done
node dist/test/bench/mysql-bench.js "${quick_args[@]}"
node dist/test/bench/redis-bench.js "${quick_args[@]}"
node dist/test/bench/http-bench.js "${quick_args[@]}"
exec node dist/test/bench/same-user-bench.js "${quick_args[@]}"
