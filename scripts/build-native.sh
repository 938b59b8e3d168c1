#!/usr/bin/env bash
# Builds the broker's optional native modules into dist/broker/native/ on Linux, with the
# C compiler and Node's own N-API headers: pump.node (the data phase, broker/native/pump.c)
# and sock-diag.node (the same-user check's socket lookup, broker/native/sock-diag.c).
# Optional: where one cannot be built (no compiler, no headers, not Linux) the broker
# uses its JS path and says so in its log. SECRETLESS_NATIVE=0 turns both off.
set -uo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -s)" = Linux ] || { echo "native modules: not Linux, the broker uses its JS paths" >&2; exit 0; }
inc="$(node -p "require('node:path').resolve(process.execPath, '../../include/node')")"
if [ ! -f "$inc/node_api.h" ]; then
  echo "native modules: no N-API headers at $inc, the broker uses its JS paths" >&2
  exit 0
fi
cc="${CC:-cc}"
command -v "$cc" >/dev/null || { echo "native modules: no C compiler ($cc), the broker uses its JS paths" >&2; exit 0; }
mkdir -p dist/broker/native
for name in pump sock-diag; do
  out="dist/broker/native/$name.node"
  sources="broker/native/$name.c"
  [ "$name" = pump ] && sources="$sources broker/native/http-lane.c broker/native/http-wire.c"
  # shellcheck disable=SC2086 # the sources are words
  if ! "$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -shared -fPIC -fvisibility=hidden -pthread -I"$inc" -o "$out.tmp" $sources; then
    rm -f "$out.tmp"
    echo "native modules: $name did not build, the broker uses its JS path for it" >&2
    continue
  fi
  mv "$out.tmp" "$out"
done
